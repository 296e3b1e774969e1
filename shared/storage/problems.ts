/** Problems of the object store and of its event notifications. */
import { problemType } from '../runtime/problem.js';

export const storageProblems = {
  invalidEvent: problemType(400, 'invalid-event', 'Not an S3 event notification'),
  objectNotFound: problemType(404, 'object-not-found', 'Object not found'),
  storageUnavailable: problemType(502, 'storage-unavailable', 'Object storage is unavailable'),
};
