/** What an Eventstream endpoint can answer that stops a delivery. */
import { problemType } from '../../runtime/problem.js';

export const eventstreamProblems = {
  tooLarge: problemType(422, 'eventstream-too-large', 'The Eventstream endpoint refused the batch as too large'),
  authFailed: problemType(422, 'eventstream-auth-failed', 'The Eventstream endpoint refused the credentials'),
  notFound: problemType(422, 'eventstream-not-found', 'The Eventstream endpoint has no such event hub'),
  refused: problemType(422, 'eventstream-refused', 'The Eventstream endpoint refused the events'),
  unavailable: problemType(503, 'eventstream-unavailable', 'The Eventstream endpoint did not accept the events'),
};
