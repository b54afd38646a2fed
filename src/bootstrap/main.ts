export async function main(_argv: string[]): Promise<number> {
  process.stderr.write('metis-bootstrap: engine not built yet\n');
  return 1;
}
