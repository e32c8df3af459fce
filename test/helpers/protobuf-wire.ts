// Hand-built protobuf wire data, for requests protobufjs would take too long to build, or refuses to.

/** A base-128 varint. */
export function varint(n: number): Buffer {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
  return Buffer.from(out);
}

/** A length-delimited field (wire type 2): a string, bytes or an embedded message. */
export function lenField(field: number, bytes: Buffer | string): Buffer {
  const b = typeof bytes === 'string' ? Buffer.from(bytes) : bytes;
  return Buffer.concat([varint((field << 3) | 2), varint(b.length), b]);
}
