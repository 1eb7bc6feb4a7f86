import { Column, ColumnOptions, DataSource } from 'typeorm';
import { isPostgres } from './dialect';

/** The entity classes' properties declared with BigIntegerColumn. */
const wide = new WeakMap<object, Set<string | symbol>>();

/**
 * An integer column whose values pass 2^31: byte counts, milliseconds since 1970, seconds
 * beyond 2038. SQLite's `integer` already holds 64 bits, so the SQLite schema keeps
 * `integer`; PostgreSQL's holds 32, so there the column is a `bigint` (widenIntegerColumns,
 * and the PostgreSQL branch of the migrations).
 */
export function BigIntegerColumn(options: ColumnOptions = {}): PropertyDecorator {
  return (target, property) => {
    const properties = wide.get(target.constructor) ?? new Set();
    wide.set(target.constructor, properties.add(property));
    Column('integer', options)(target, property);
  };
}

/**
 * Makes a PostgreSQL data source's metadata say `bigint` for the BigIntegerColumns, as its
 * schema does; a SQLite one is left as it is.
 */
export function widenIntegerColumns(dataSource: DataSource): void {
  if (!isPostgres(dataSource)) return;
  for (const entity of dataSource.entityMetadatas) {
    for (const column of entity.columns) {
      const properties = wide.get(column.target as object);
      if (properties?.has(column.propertyName)) column.type = 'bigint';
    }
  }
}
