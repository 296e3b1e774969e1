/** Problems of an object version's lifecycle. */
import { problemType } from '../runtime/problem.js';

export const lifecycleProblems = {
  /** Another run holds the version now: this one stops (a conflict, not a failure of the file). */
  claimLost: problemType(409, 'claim-lost', 'Another run holds this object version'),
  /** The claim kept changing under concurrent claimers: try again. */
  contended: problemType(503, 'claim-contended', 'The object version is being claimed by several runs'),
  /** Past MAX_ATTEMPTS: the version fails for good (reprocess by uploading again, or npm run reprocess). */
  gaveUp: problemType(502, 'gave-up', 'Processing failed too many times'),
  /** A run was refused because it holds no claim (publish called without transform's run id). */
  noClaim: problemType(409, 'no-claim', 'The run holds no claim on this object version'),
};
