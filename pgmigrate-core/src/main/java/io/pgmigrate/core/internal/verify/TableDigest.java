package io.pgmigrate.core.internal.verify;

import io.pgmigrate.core.internal.schema.TableRef;
import io.pgmigrate.core.internal.sql.Identifiers;
import io.pgmigrate.core.internal.sql.Queries;

import java.sql.Connection;
import java.sql.SQLException;
import java.util.List;
import java.util.stream.Collectors;

/**
 * Row count and digest of one table: the md5 of every row's text form (columns in the order given), sorted, then
 * hashed together; a partitioned table's rows are those of its partitions. Equal digests on both sides mean the same
 * multiset of rows, whatever the physical order or partition. The server does the work; only two values travel.
 *
 * @param rows   number of rows
 * @param digest hex digest of all rows
 */
public record TableDigest(long rows, String digest) {

    /** Digests {@code table} over {@code columns} on the database {@code c} is connected to. */
    public static TableDigest of(Connection c, TableRef table, List<String> columns) throws SQLException {
        String row = columns.isEmpty() ? "''"
                : "ROW(" + columns.stream().map(Identifiers::quote).collect(Collectors.joining(", ")) + ")::text";
        return Queries.first(c, "SELECT count(*), coalesce(md5(string_agg(h, '' ORDER BY h)), md5(''))"
                        + " FROM (SELECT md5(" + row + ") AS h FROM " + table.quoted() + ") AS rows",
                rs -> new TableDigest(rs.getLong(1), rs.getString(2))).orElseThrow();
    }

    /** The columns of {@code table} in attribute order, generated columns included. */
    public static List<String> columns(Connection c, TableRef table) throws SQLException {
        return Queries.list(c, """
                SELECT a.attname FROM pg_attribute a
                JOIN pg_class t ON t.oid = a.attrelid JOIN pg_namespace n ON n.oid = t.relnamespace
                WHERE n.nspname = ? AND t.relname = ? AND a.attnum > 0 AND NOT a.attisdropped
                ORDER BY a.attnum
                """, rs -> rs.getString(1), table.schema(), table.name());
    }
}
