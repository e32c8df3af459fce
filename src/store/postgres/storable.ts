// What PostgreSQL's text and jsonb cannot hold: U+0000 and unpaired UTF-16 surrogates. A write holding one is refused
// alone, before its transaction: sent, it would fail every write of the batch it shares the transaction with.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Why PostgreSQL cannot store a value (a JSON text, or rows about to be written), or undefined: its text and jsonb
 * hold neither the character U+0000 nor half of a surrogate pair. Found here, a value is refused alone; found by
 * PostgreSQL, it would fail every write of the batch it shares a transaction with.
 */
export function unstorableIn(value: unknown): string | undefined {
  let parsed: unknown = value;
  if (typeof value === 'string') {
    try {
      parsed = JSON.parse(value);
    } catch {
      // Not JSON: the operation refuses it with its own message.
      return undefined;
    }
  }
  const bad = (s: string) => s.includes('\u0000') || LONE_SURROGATE.test(s);
  // Without recursion (a hostile body nests arrays a hundred thousand deep); each node knows its parent, so a path is
  // spelled only for the value found.
  interface Node {
    readonly value: unknown;
    readonly step: string;
    readonly parent: Node | undefined;
  }
  const pathOf = (node: Node): string => {
    const steps: string[] = [];
    for (let n: Node | undefined = node; n; n = n.parent) steps.push(n.step);
    return steps.reverse().join('').replace(/^\./, '');
  };
  const found = (node: Node, what: 'value' | 'name'): string => {
    const where = pathOf(node);
    const named = where === '' ? 'the request' : JSON.stringify(where);
    return `${what === 'name' ? `the name ${named}` : named} holds the character U+0000 or an unpaired UTF-16 surrogate, which the store (PostgreSQL) cannot hold`;
  };
  const root: Node = { value: parsed, step: '', parent: undefined };
  if (typeof parsed === 'string') return bad(parsed) ? found(root, 'value') : undefined;
  // Only containers are pushed; strings are checked where they are met (a node is made only for the one found).
  const stack: Node[] = [root];
  while (stack.length > 0) {
    const node = stack.pop()!;
    const v = node.value;
    if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) {
        const item: unknown = v[i];
        if (typeof item === 'string') {
          if (bad(item)) return found({ value: item, step: `[${i}]`, parent: node }, 'value');
        } else if (typeof item === 'object' && item !== null) stack.push({ value: item, step: `[${i}]`, parent: node });
      }
    } else if (typeof v === 'object' && v !== null) {
      for (const key of Object.keys(v)) {
        const item: unknown = (v as Record<string, unknown>)[key];
        if (bad(key)) return found({ value: item, step: `.${key}`, parent: node }, 'name');
        if (typeof item === 'string') {
          if (bad(item)) return found({ value: item, step: `.${key}`, parent: node }, 'value');
        } else if (typeof item === 'object' && item !== null)
          stack.push({ value: item, step: `.${key}`, parent: node });
      }
    }
  }
  return undefined;
}
