import { z } from 'zod';

/** One readable line per problem, naming the field: `version: must be ...`. */
export function zodMessage(error: z.ZodError): string {
  return error.issues
    .map(issue => {
      const path = issue.path.join('.');
      return path ? `${path}: ${issue.message}` : issue.message;
    })
    .join('; ');
}
