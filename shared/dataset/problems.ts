/** What can be wrong with a dataset stream on the wire. */
import { problemType } from '../runtime/problem.js';

export const datasetProblems = {
  invalid: problemType(400, 'invalid-dataset', 'Invalid dataset stream'),
  truncated: problemType(502, 'truncated-dataset', 'Dataset stream ended early'),
  interrupted: problemType(502, 'dataset-interrupted', 'The dataset stream broke off'),
};
