/** What Power BI (or its sign-in) can answer that stops a delivery. */
import { Problem, problemType } from '../../runtime/problem.js';

export const powerbiProblems = {
  refused: problemType(422, 'powerbi-rejected', 'Power BI refused the rows'),
  tableMissing: problemType(422, 'powerbi-table-missing', 'The Power BI table does not exist'),
  noMatchingColumn: problemType(422, 'powerbi-no-matching-column', 'No column of the file matches the Power BI table'),
  noDataset: problemType(422, 'powerbi-config', 'No Power BI dataset'),
  creationRefused: problemType(422, 'powerbi-creation-refused', 'Power BI refused to create the push dataset'),
  unavailable: problemType(503, 'powerbi-unavailable', 'Power BI did not accept the rows'),
  authUnreachable: problemType(503, 'powerbi-auth-unreachable', 'The Entra ID token endpoint is unreachable'),
  authFailed: (status: number, detail: string, setting: string) => new Problem(status, 'powerbi-auth-failed', 'Power BI sign-in failed', detail, { setting }),
};
