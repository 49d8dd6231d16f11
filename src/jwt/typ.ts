/** RFC 7515 §4.1.9: typ is a media type, compared case-insensitively, `application/` optional: `application/at+jwt` is `at+jwt`. */
export function normaliseType(typ: string): string {
  const lower = typ.toLowerCase();
  return lower.startsWith('application/') ? lower.slice('application/'.length) : lower;
}
