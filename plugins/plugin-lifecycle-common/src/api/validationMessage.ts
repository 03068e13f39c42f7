import { z } from 'zod';

/**
 * Zod's issues as one readable line, each naming its field:
 * `version: must be a semantic version; port: is required`. Every 400 of
 * the API says what was wrong this way, and clients (and tests) read it;
 * `z.prettifyError` would say the same on several lines.
 *
 * @public
 */
export function validationMessage(error: z.ZodError): string {
  return error.issues
    .map(issue => {
      const path = issue.path.map(String).join('.');
      return path ? `${path}: ${issue.message}` : issue.message;
    })
    .join('; ');
}
