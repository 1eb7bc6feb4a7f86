import Table from 'cli-table3';

/** Borderless, as `docker ps` prints: columns two spaces apart, no frame to scrape around. */
const PLAIN = {
  chars: {
    top: '', 'top-mid': '', 'top-left': '', 'top-right': '',
    bottom: '', 'bottom-mid': '', 'bottom-left': '', 'bottom-right': '',
    left: '', 'left-mid': '', mid: '', 'mid-mid': '', right: '', 'right-mid': '', middle: '  ',
  },
  style: { head: [], border: [], 'padding-left': 0, 'padding-right': 0 },
};

/** One column of a table: its header and how a row shows in it. */
export type Column<T> = [header: string, cell: (row: T) => string | number | boolean | null | undefined];

/**
 * Where commands print: human tables by default, JSON (the server's own shapes) with --json,
 * so that scripts parse stdout with no screen-scraping.
 */
export class Output {
  constructor(readonly json: boolean) {}

  /** Rows as a table, or `value` (the rows by default) as JSON. */
  table<T>(rows: T[], columns: Column<T>[], value: unknown = rows): void {
    if (this.json) return this.printJson(value);
    if (rows.length === 0) {
      process.stdout.write('(none)\n');
      return;
    }
    const table = new Table({ ...PLAIN, head: columns.map(([header]) => header) });
    for (const row of rows) table.push(columns.map(([, cell]) => String(cell(row) ?? '')));
    this.printTable(table);
  }

  /** One object as field/value lines, or as JSON. */
  record(value: object): void {
    if (this.json) return this.printJson(value);
    const table = new Table(PLAIN);
    for (const [field, fieldValue] of Object.entries(value)) {
      table.push({ [field]: typeof fieldValue === 'object' && fieldValue !== null ? JSON.stringify(fieldValue) : String(fieldValue) });
    }
    this.printTable(table);
  }

  /** A sentence for people, or `value` as JSON. */
  done(sentence: string, value: unknown): void {
    if (this.json) return this.printJson(value);
    process.stdout.write(`${sentence}\n`);
  }

  private printTable(table: Table.Table): void {
    // Without a frame, the padding of the last column is only trailing blanks.
    const lines = table.toString().split('\n').map((line) => line.trimEnd());
    process.stdout.write(`${lines.join('\n')}\n`);
  }

  private printJson(value: unknown): void {
    process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  }
}
