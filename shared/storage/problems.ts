/** Problems of the object store and of its event notifications. */
import { problemType } from '../runtime/problem.js';

export const storageProblems = {
  invalidEvent: problemType(400, 'invalid-event', 'Not an S3 event notification'),
  invalidKey: problemType(400, 'invalid-key', 'This object key cannot be processed'),
  wrongBucket: problemType(403, 'wrong-bucket', 'Only the input bucket is read'),
  versionMismatch: problemType(409, 'version-mismatch', 'The object is not the version the reference names'),
  objectNotFound: problemType(404, 'object-not-found', 'Object not found'),
  storageUnavailable: problemType(502, 'storage-unavailable', 'Object storage is unavailable'),
};
