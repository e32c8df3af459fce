/** RE2 syntax characters escaped, so the text matches literally inside a regex. */
export function literalRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
