package io.pgmigrate.core.internal.verify;

import io.pgmigrate.KeyRange;
import io.pgmigrate.core.internal.sql.Identifiers;
import io.pgmigrate.core.internal.sql.Queries;

import java.math.BigDecimal;
import java.sql.Connection;
import java.sql.SQLException;
import java.util.List;
import java.util.stream.Collectors;

/**
 * Row count and digest of one range of a table, computed by the server while it reads the rows: two 64-bit hashes of
 * each row's text form, each summed over the range (as {@code numeric}, which cannot overflow). Equal digests mean the
 * same multiset of rows, whatever their order or partition; the sums add up, so the digests of a table's ranges make
 * the table's. Memory is constant and nothing but three numbers travels, at any table size (the whole-table
 * {@code string_agg} this replaces failed past 1 GB of text).
 *
 * <p>The hashes are {@code hashtextextended} with two seeds ({@link Formula#HASH}): the function hash partitioning
 * relies on, so it gives the same value on every major that has it (11 and later) for the same bytes, and costs about
 * what printing the row costs. Where the two servers disagree on it (another byte order), {@link Formula#MD5}: the
 * two halves of the row text's md5, twice the time.
 *
 * @param rows rows in the range
 * @param high sum of the first hashes
 * @param low  sum of the second hashes
 */
public record RangeDigest(long rows, BigDecimal high, BigDecimal low) {

    /**
     * Settings under which both servers print a row the same way (floats exactly, dates and intervals in one style,
     * time zones as UTC, bytea as hex, money in the C locale, type names schema-qualified), and read a range of the
     * key through its index, by a bitmap (which reads the range's pages in order: a third faster than an index scan
     * on narrow rows): set on each verification session. Without statistics (a table just copied) the planner took a
     * parallel scan of the whole table and a sort for each range of 40 million rows; a table without a key is still
     * scanned. Verification runs its own workers, so none of PostgreSQL's. {@link KeyRanges#plan} turns index scans
     * back on while it walks the key.
     */
    public static final List<String> PINNED = List.of("SET extra_float_digits = 3", "SET DateStyle = 'ISO, YMD'",
            "SET IntervalStyle = 'postgres'", "SET TimeZone = 'UTC'", "SET bytea_output = 'hex'", "SET lc_monetary = 'C'",
            "SET search_path = ''", "SET enable_seqscan = off", "SET enable_sort = off", "SET enable_indexscan = off",
            "SET max_parallel_workers_per_gather = 0");

    /** How each row is hashed. */
    public enum Formula {
        /** {@code hashtextextended(row, 0)} and {@code hashtextextended(row, 1)}. */
        HASH,
        /** The first and the last 64 bits of {@code md5(row)}. */
        MD5
    }

    /**
     * {@link Formula#HASH} when both servers hash a probe text alike (the same byte order), else {@link Formula#MD5}.
     */
    public static Formula formula(Connection a, Connection b) throws SQLException {
        String probe = "SELECT hashtextextended('pgmigrate verify: 0123456789 abcdefghijklmnopqrstuvwxyz', 7)::text";
        return Queries.string(a, probe).equals(Queries.string(b, probe)) ? Formula.HASH : Formula.MD5;
    }

    /** No rows. */
    public static final RangeDigest EMPTY = new RangeDigest(0, BigDecimal.ZERO, BigDecimal.ZERO);

    /** Sets {@link #PINNED} on {@code c}. */
    public static void pin(Connection c) throws SQLException {
        for (String setting : PINNED) {
            Queries.execute(c, setting);
        }
    }

    /** The digest of {@code range} of {@code table}, on the database {@code c} is connected to. */
    public static RangeDigest of(Connection c, TableShape table, KeyRange range) throws SQLException {
        List<String> columns = table.columns();
        String row = columns.isEmpty() ? "''"
                : "ROW(" + columns.stream().map(Identifiers::quote).collect(Collectors.joining(", ")) + ")::text";
        boolean hash = table.formula() == Formula.HASH;
        String sums = hash
                ? "coalesce(sum(hashtextextended(r, 0)), 0), coalesce(sum(hashtextextended(r, 1)), 0)"
                : "coalesce(sum(('x' || substr(r, 1, 16))::bit(64)::bigint), 0),"
                + " coalesce(sum(('x' || substr(r, 17, 16))::bit(64)::bigint), 0)";
        row = hash ? row : "md5(" + row + ")";
        // OFFSET 0 keeps the planner from folding the subquery, which would print each row once per sum
        return Queries.first(c, "SELECT count(*), " + sums + " FROM (SELECT " + row + " AS r FROM " + table.from()
                        + " WHERE " + KeyRanges.condition(table.key(), range) + " OFFSET 0) AS rows",
                rs -> new RangeDigest(rs.getLong(1), rs.getBigDecimal(2), rs.getBigDecimal(3)),
                KeyRanges.parameters(range).toArray()).orElseThrow();
    }

    /** The digest of the rows of both. */
    public RangeDigest plus(RangeDigest other) {
        return new RangeDigest(rows + other.rows, high.add(other.high), low.add(other.low));
    }

    /** The digest as one text: rows, then both sums in hex. */
    public String text() {
        return rows + ":" + high.toBigInteger().toString(16) + ":" + low.toBigInteger().toString(16);
    }
}
