package io.pgmigrate.core.internal.copy;

import io.pgmigrate.core.internal.schema.TableRef;
import io.pgmigrate.core.internal.sql.Queries;

import java.math.BigInteger;
import java.sql.Connection;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;

import static io.pgmigrate.core.internal.sql.Identifiers.quote;

/**
 * How one database's tables are copied: every published table's leaves (the table itself, or a partitioned table's
 * partitions), each in one part or, when large, in several that workers copy at once. A part is a range of pages
 * ({@code ctid}, which PostgreSQL 14 and later scan as a range) or, on older sources and tables not stored as heap, a
 * range of an integer key; a table with neither is copied in one part. The first and the last part are open-ended, so
 * rows on pages added since the plan, or keys beyond its bounds, are still covered.
 */
public final class CopyPlan {

    /**
     * One table whose rows are copied as they are stored.
     *
     * @param table   the published table
     * @param leaf    the table the rows are read from and written to: {@code table} or one of its partitions
     * @param bytes   its size on the source, TOAST included
     * @param rows    the source's estimate of its rows
     * @param columns its columns, quoted, generated ones left out (the target computes them)
     * @param binary  whether COPY's binary format is safe for every column: only built-in types, whose binary form
     *                every release reads alike; text otherwise
     * @param file    its file node when planned: a table rewritten since (VACUUM FULL, CLUSTER, TRUNCATE) has
     *                another, and its page ranges no longer hold the same rows
     */
    public record Leaf(TableRef table, TableRef leaf, long bytes, long rows, List<String> columns, boolean binary,
                       long file) {

        public Leaf {
            columns = List.copyOf(columns);
        }

        String columnList() {
            return String.join(", ", columns);
        }
    }

    /**
     * One part of one leaf.
     *
     * @param database the database
     * @param leaf     the table
     * @param part     which part, from 0
     * @param parts    how many parts the leaf has
     * @param where    the condition that selects the part's rows, empty for the whole table
     * @param bytes    about how many bytes of the source it reads
     */
    public record Chunk(String database, Leaf leaf, int part, int parts, String where, long bytes) {

        /**
         * The source's side: a whole table as {@code COPY table (columns) TO STDOUT}, which reads the table directly
         * (and only it, never its children); a part as {@code COPY (SELECT ... WHERE range) TO STDOUT}.
         */
        String copyOut(boolean binary) {
            String format = binary ? " (FORMAT binary)" : "";
            if (where.isEmpty()) {
                return "COPY " + leaf.leaf().quoted() + " (" + leaf.columnList() + ") TO STDOUT" + format;
            }
            return "COPY (SELECT " + leaf.columnList() + " FROM ONLY " + leaf.leaf().quoted() + " WHERE " + where
                    + ") TO STDOUT" + format;
        }

        /** The target's side: {@code COPY ... FROM STDIN}, its rows written frozen when {@code freeze}. */
        String copyIn(boolean binary, boolean freeze) {
            String options = binary && freeze ? " (FORMAT binary, FREEZE)" : binary ? " (FORMAT binary)"
                    : freeze ? " (FREEZE)" : "";
            return "COPY " + leaf.leaf().quoted() + " (" + leaf.columnList() + ") FROM STDIN" + options;
        }

        @Override
        public String toString() {
            return leaf.leaf() + (parts > 1 ? " part " + (part + 1) + " of " + parts : "");
        }
    }

    private CopyPlan() {
    }

    /**
     * Plans the copy of {@code tables} from the database {@code source} is connected to.
     *
     * @param binaryAllowed whether the target reads the source's binary format (its major is the same or newer)
     * @param partBytes     the size above which a table is split, and about the size of each part
     */
    public static List<Chunk> plan(Connection source, String database, List<TableRef> tables, boolean binaryAllowed,
                                   long partBytes) throws SQLException {
        if (tables.isEmpty()) {
            return List.of();
        }
        int major = source.getMetaData().getDatabaseMajorVersion();
        record Row(TableRef table, TableRef leaf, long oid, long bytes, long mainBytes, long rows, boolean heap,
                   int blockSize, long file) { }
        List<Row> leaves = Queries.list(source, """
                SELECT t.s, t.n, ln.nspname, l.relname, l.oid, pg_table_size(l.oid), pg_relation_size(l.oid),
                       greatest(l.reltuples, 0)::bigint,
                       coalesce((SELECT a.amname = 'heap' FROM pg_am a WHERE a.oid = l.relam), false),
                       current_setting('block_size')::int, pg_relation_filenode(l.oid)
                FROM unnest(?::text[], ?::text[]) AS t(s, n)
                JOIN pg_namespace pn ON pn.nspname = t.s
                JOIN pg_class p ON p.relnamespace = pn.oid AND p.relname = t.n
                LEFT JOIN LATERAL pg_partition_tree(p.oid) pt ON true
                JOIN pg_class l ON l.oid = coalesce(pt.relid, p.oid)
                JOIN pg_namespace ln ON ln.oid = l.relnamespace
                WHERE coalesce(pt.isleaf, true) AND l.relkind = 'r'
                ORDER BY 1, 2, 3, 4
                """, rs -> new Row(new TableRef(rs.getString(1), rs.getString(2)),
                new TableRef(rs.getString(3), rs.getString(4)), rs.getLong(5), rs.getLong(6), rs.getLong(7),
                rs.getLong(8), rs.getBoolean(9), rs.getInt(10), rs.getLong(11)),
                source.createArrayOf("text", tables.stream().map(TableRef::schema).toArray()),
                source.createArrayOf("text", tables.stream().map(TableRef::name).toArray()));
        List<Chunk> chunks = new ArrayList<>();
        for (Row r : leaves) {
            record Column(String name, boolean binary) { }
            List<Column> columns = Queries.list(source, """
                    SELECT a.attname,
                           t.oid < 16384 AND t.typtype IN ('b', 'r') AND t.typsend::oid <> 0
                           AND t.typreceive::oid <> 0 AND (t.typelem = 0 OR t.typelem < 16384)
                           AND t.typname NOT IN ('tsvector', '_tsvector', 'tsquery', '_tsquery', 'aclitem', '_aclitem')
                           AND t.typname NOT LIKE 'reg%' AND t.typname NOT LIKE '\\_reg%'
                           AND t.typname NOT IN ('oid', '_oid', 'oidvector', 'xid', 'cid', 'tid')
                    FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
                    WHERE a.attrelid = ? AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
                    ORDER BY a.attnum
                    """, rs -> new Column(rs.getString(1), rs.getBoolean(2)), r.oid());
            Leaf leaf = new Leaf(r.table(), r.leaf(), r.bytes(), r.rows(),
                    columns.stream().map(c -> quote(c.name())).toList(),
                    binaryAllowed && columns.stream().allMatch(Column::binary), r.file());
            int parts = r.bytes() > partBytes + partBytes / 2 ? (int) Math.min(256, (r.bytes() + partBytes - 1)
                    / partBytes) : 1;
            List<String> ranges = List.of("");
            if (parts > 1 && r.heap() && major >= 14) {
                ranges = pageRanges(Math.max(1, r.mainBytes() / r.blockSize()), parts);
            } else if (parts > 1) {
                ranges = keyRanges(source, r.oid(), leaf.leaf(), parts).orElse(List.of(""));
            }
            for (int i = 0; i < ranges.size(); i++) {
                chunks.add(new Chunk(database, leaf, i, ranges.size(), ranges.get(i), r.bytes() / ranges.size()));
            }
        }
        return chunks;
    }

    /** Page ranges: a TID range scan reads only its own pages. */
    static List<String> pageRanges(long pages, int parts) {
        long per = (pages + parts - 1) / parts;
        List<String> out = new ArrayList<>();
        for (int i = 0; i < parts; i++) {
            long lo = i * per;
            long hi = (i + 1) * per;
            String low = "ctid >= '(" + lo + ",0)'::tid";
            String high = "ctid < '(" + hi + ",0)'::tid";
            out.add(i == 0 ? high : i == parts - 1 ? low : low + " AND " + high);
        }
        return out;
    }

    /** Ranges of a unique, not null integer key, when the table has one; scanned through its index. */
    private static Optional<List<String>> keyRanges(Connection source, long oid, TableRef leaf, int parts)
            throws SQLException {
        Optional<String> key = Queries.first(source, """
                SELECT a.attname FROM pg_index i
                JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
                WHERE i.indrelid = ? AND i.indisunique AND i.indisvalid AND i.indnkeyatts = 1 AND i.indpred IS NULL
                  AND i.indexprs IS NULL AND a.attnotnull AND a.atttypid IN (20, 21, 23)
                ORDER BY i.indisprimary DESC, i.indexrelid LIMIT 1
                """, rs -> rs.getString(1), oid);
        if (key.isEmpty()) {
            return Optional.empty();
        }
        String k = quote(key.get());
        record Bounds(String min, String max) { }
        Bounds b = Queries.first(source, "SELECT min(" + k + ")::text, max(" + k + ")::text FROM ONLY " + leaf.quoted(),
                rs -> new Bounds(rs.getString(1), rs.getString(2))).orElseThrow();
        if (b.min() == null) {
            return Optional.empty();
        }
        return Optional.of(keyRanges(k, new BigInteger(b.min()), new BigInteger(b.max()), parts));
    }

    static List<String> keyRanges(String key, BigInteger min, BigInteger max, int parts) {
        BigInteger span = max.subtract(min).add(BigInteger.ONE);
        BigInteger n = BigInteger.valueOf(parts);
        BigInteger step = span.add(n).subtract(BigInteger.ONE).divide(n).max(BigInteger.ONE);
        List<String> out = new ArrayList<>();
        for (int i = 0; i < parts; i++) {
            BigInteger lo = min.add(step.multiply(BigInteger.valueOf(i)));
            BigInteger hi = lo.add(step);
            String low = key + " >= " + lo;
            String high = key + " < " + hi;
            if (i > 0 && lo.compareTo(max) > 0) {
                break; // fewer keys than parts
            }
            boolean last = i == parts - 1 || hi.compareTo(max) > 0;
            out.add(i == 0 && last ? "" : i == 0 ? high : last ? low : low + " AND " + high);
            if (last) {
                break;
            }
        }
        return out;
    }

    /** Largest first: the longest copies start first, so they do not finish last alone. */
    static final Comparator<Chunk> LARGEST_FIRST = Comparator.comparingLong((Chunk c) -> c.leaf().bytes()).reversed()
            .thenComparing(c -> c.database())
            .thenComparing(c -> c.leaf().leaf())
            .thenComparingInt(Chunk::part);
}
