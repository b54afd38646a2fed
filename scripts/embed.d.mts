/** Types of scripts/embed.mjs (for the tests). */
export function asciiOnly(code: string, entry: string): string;
