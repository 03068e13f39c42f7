import type { Options } from 'ajv';
import { RE2JS } from 're2js';

type RegExpEngine = NonNullable<NonNullable<Options['code']>['regExp']>;
type RegExpLike = ReturnType<RegExpEngine>;

/**
 * Ajv's `code.regExp`: schema patterns (`pattern`, `patternProperties`) run
 * on RE2 (re2js, pure JavaScript), whose matching time is linear in the
 * input. A caller's schema is untrusted: on the backtracking engine a
 * pattern such as `^(a+)+$` takes seconds for a few dozen characters.
 * Patterns RE2 cannot run in linear time (backreferences, lookaheads) do
 * not compile, so the schema is refused as invalid.
 */
export const linearRegExp: RegExpEngine = Object.assign(
  (pattern: string, _flags: string): RegExpLike => {
    // JavaScript syntax (named groups, `\d`, `/`) to RE2's; RE2 matches
    // Unicode code points whatever the flag.
    const re = RE2JS.compile(RE2JS.translateRegExp(pattern));
    return {
      test: (input: string) => re.test(input),
      // Ajv keys its compiled patterns by this string.
      toString: () => `/${pattern}/re2`,
    } as RegExpLike;
  },
  // Ajv only inlines this in standalone code, which is not used here.
  { code: 'linearRegExp' },
);
