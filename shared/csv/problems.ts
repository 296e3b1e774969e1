/** What can be wrong with a CSV file; each problem names the file and, where known, the line and column. */
import { problemType } from '../runtime/problem.js';

export const csvProblems = {
  notText: problemType(415, 'not-text', 'Input is not a CSV text file'),
  unsupportedEncoding: problemType(415, 'unsupported-encoding', 'UTF-16 is not supported'),
  invalidEncoding: problemType(422, 'invalid-encoding', 'Invalid UTF-8'),
  emptyFile: problemType(422, 'empty-file', 'The file has no header'),
  recordTooLarge: problemType(422, 'record-too-large', 'Record too large'),
  unterminatedQuote: problemType(422, 'unterminated-quote', 'Unterminated quoted field'),
  tooManyColumns: problemType(422, 'too-many-columns', 'Too many columns'),
  fieldTooLarge: problemType(422, 'field-too-large', 'Field too large'),
  missingColumn: problemType(422, 'missing-column', 'A required column is missing'),
  tooManyRejects: problemType(422, 'too-many-rejects', 'Too many rejected rows'),
};
