import { z } from 'zod';

/** A duration in milliseconds, as every `...Interval` and `...Timeout` key takes it. */
export const durationMs = z.number().int().positive();
