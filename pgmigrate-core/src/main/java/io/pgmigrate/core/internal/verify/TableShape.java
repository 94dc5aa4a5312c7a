package io.pgmigrate.core.internal.verify;

import io.pgmigrate.core.internal.schema.TableRef;
import io.pgmigrate.core.internal.sql.Queries;

import java.sql.Connection;
import java.sql.SQLException;
import java.util.List;

/**
 * What verification and repair need to know of a table, read once on one side: how to read its rows (a partitioned
 * table with its partitions, any other without the tables that inherit from it, which are compared on their own), its
 * columns, those a copy writes, and its key.
 *
 * @param table      the table
 * @param from       the table as a {@code FROM} item
 * @param columns    every column in attribute order, generated ones included (they are compared)
 * @param insertable the columns a copy writes: not generated
 * @param key        the key its ranges are cut on; empty when it has none
 * @param formula    how its rows are hashed
 */
public record TableShape(TableRef table, String from, List<String> columns, List<String> insertable,
                         List<KeyRanges.KeyColumn> key, RangeDigest.Formula formula) {

    /**
     * Reads {@code table}'s shape on {@code c}, a session with {@link RangeDigest#PINNED} settings, to be hashed by
     * {@code formula}.
     */
    public static TableShape read(Connection c, TableRef table, RangeDigest.Formula formula) throws SQLException {
        boolean partitioned = Queries.exists(c, """
                SELECT 1 FROM pg_class t JOIN pg_namespace n ON n.oid = t.relnamespace
                WHERE n.nspname = ? AND t.relname = ? AND t.relkind = 'p'
                """, table.schema(), table.name());
        List<String[]> columns = Queries.list(c, """
                SELECT a.attname, a.attgenerated::text FROM pg_attribute a
                JOIN pg_class t ON t.oid = a.attrelid JOIN pg_namespace n ON n.oid = t.relnamespace
                WHERE n.nspname = ? AND t.relname = ? AND a.attnum > 0 AND NOT a.attisdropped
                ORDER BY a.attnum
                """, rs -> new String[] {rs.getString(1), rs.getString(2)}, table.schema(), table.name());
        return new TableShape(table, (partitioned ? "" : "ONLY ") + table.quoted(),
                columns.stream().map(a -> a[0]).toList(),
                columns.stream().filter(a -> a[1] == null || a[1].isEmpty()).map(a -> a[0]).toList(),
                KeyRanges.key(c, table), formula);
    }
}
