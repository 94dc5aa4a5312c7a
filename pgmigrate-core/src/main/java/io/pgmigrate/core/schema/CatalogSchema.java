package io.pgmigrate.core.schema;

import io.pgmigrate.ErrorCode;
import io.pgmigrate.PgMigrateException;
import io.pgmigrate.core.sql.Queries;

import java.sql.Connection;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The schema of one source database as the DDL that recreates it, read from the catalog with PostgreSQL's own
 * {@code format_type} and {@code pg_get_*def} functions (the reading session has {@code search_path = pg_catalog}, so
 * they print fully qualified names). This first slice covers schemas, extensions, sequences, tables, constraints and
 * indexes. Tables it cannot copy (partitioned, unlogged, foreign, inherited, materialized views) are listed in
 * {@link #notCopied()} with the reason; other object kinds (types, functions, views, triggers, grants) are not read
 * yet and so not listed either: the schema-copy issue adds them.
 *
 * @param tables     the tables to replicate, in name order
 * @param statements the DDL, in dependency order
 * @param notCopied  objects left out, each with the reason
 */
public record CatalogSchema(List<TableRef> tables, List<String> statements, List<String> notCopied) {

    /** Objects that belong to the system or to an extension are never copied as such. */
    // Plain strings with surrounding spaces: text blocks strip the trailing space they are concatenated after.
    private static final String USER_NAMESPACE =
            " n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%' ";
    private static final String NOT_EXTENSION_MEMBER = " NOT EXISTS (SELECT 1 FROM pg_depend e"
            + " WHERE e.classid = 'pg_class'::regclass AND e.objid = c.oid AND e.deptype = 'e') ";

    public CatalogSchema {
        tables = List.copyOf(tables);
        statements = List.copyOf(statements);
        notCopied = List.copyOf(notCopied);
    }

    /** Reads the schema of the database {@code source} is connected to. */
    public static CatalogSchema read(Connection source) throws SQLException {
        List<String> ddl = new ArrayList<>();
        List<String> notCopied = new ArrayList<>();

        ddl.addAll(Queries.list(source, """
                SELECT format('CREATE SCHEMA IF NOT EXISTS %I', n.nspname)
                FROM pg_namespace n
                WHERE """ + USER_NAMESPACE + """
                  AND n.nspname <> 'public'
                  AND NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = 'pg_namespace'::regclass
                                  AND e.objid = n.oid AND e.deptype = 'e')
                ORDER BY n.nspname
                """, rs -> rs.getString(1)));

        ddl.addAll(Queries.list(source, """
                SELECT format('CREATE EXTENSION IF NOT EXISTS %I WITH SCHEMA %I', x.extname, n.nspname)
                FROM pg_extension x JOIN pg_namespace n ON n.oid = x.extnamespace
                WHERE x.extname <> 'plpgsql'
                ORDER BY x.extname
                """, rs -> rs.getString(1)));

        // Tables: plain, permanent, not partitions. Everything else is reported.
        Map<Long, TableRef> tables = new LinkedHashMap<>();
        Map<Long, Character> replicaIdentity = new LinkedHashMap<>();
        for (Object[] row : Queries.list(source, """
                SELECT c.oid, n.nspname, c.relname, c.relkind, c.relpersistence, c.relispartition,
                       EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = c.oid OR i.inhparent = c.oid),
                       c.relreplident
                FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE c.relkind IN ('r', 'p', 'f', 'm') AND """ + USER_NAMESPACE + " AND " + NOT_EXTENSION_MEMBER + """
                ORDER BY n.nspname, c.relname
                """, rs -> new Object[]{rs.getLong(1), rs.getString(2), rs.getString(3), rs.getString(4),
                rs.getString(5), rs.getBoolean(6), rs.getBoolean(7), rs.getString(8)})) {
            TableRef t = new TableRef((String) row[1], (String) row[2]);
            String kind = (String) row[3];
            String reason = switch (kind) {
                case "p" -> "partitioned tables are not copied yet";
                case "f" -> "foreign tables are not replicated";
                case "m" -> "materialized views are not copied yet";
                default -> {
                    if (!"p".equals(row[4])) {
                        yield "unlogged and temporary tables cannot be replicated";
                    }
                    if ((Boolean) row[5]) {
                        yield "partitions are not copied yet";
                    }
                    if ((Boolean) row[6]) {
                        yield "table inheritance is not copied yet";
                    }
                    yield null;
                }
            };
            if (reason != null) {
                notCopied.add("table " + t + ": " + reason);
            } else {
                tables.put((Long) row[0], t);
                replicaIdentity.put((Long) row[0], ((String) row[7]).charAt(0));
            }
        }

        // Sequences that are not identity sequences (those come with their column).
        for (Object[] row : Queries.list(source, """
                SELECT format('CREATE SEQUENCE IF NOT EXISTS %I.%I AS %s INCREMENT BY %s MINVALUE %s MAXVALUE %s START WITH %s CACHE %s %s',
                              n.nspname, c.relname, format_type(s.seqtypid, NULL), s.seqincrement, s.seqmin, s.seqmax,
                              s.seqstart, s.seqcache, CASE WHEN s.seqcycle THEN 'CYCLE' ELSE 'NO CYCLE' END),
                       n.nspname, c.relname
                FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE """ + USER_NAMESPACE + " AND " + NOT_EXTENSION_MEMBER + """
                  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                                  AND d.objid = c.oid AND d.deptype = 'i')
                ORDER BY n.nspname, c.relname
                """, rs -> new Object[]{rs.getString(1)})) {
            ddl.add((String) row[0]);
        }

        // Columns, grouped per table in attribute order.
        Map<Long, List<String>> columns = new LinkedHashMap<>();
        for (Object[] row : Queries.list(source, """
                SELECT a.attrelid,
                       format('%I %s', a.attname, format_type(a.atttypid, a.atttypmod))
                       || CASE WHEN a.attcollation <> 0 AND a.attcollation <> t.typcollation
                               THEN format(' COLLATE %I.%I', cn.nspname, co.collname) ELSE '' END
                       || CASE WHEN a.attgenerated = 's'
                               THEN format(' GENERATED ALWAYS AS (%s) STORED', pg_get_expr(d.adbin, d.adrelid))
                               WHEN a.attgenerated = 'v'
                               THEN format(' GENERATED ALWAYS AS (%s) VIRTUAL', pg_get_expr(d.adbin, d.adrelid))
                               WHEN a.attidentity IN ('a', 'd')
                               THEN format(' GENERATED %s AS IDENTITY (SEQUENCE NAME %I.%I INCREMENT BY %s MINVALUE %s'
                                           ' MAXVALUE %s START WITH %s CACHE %s %s)',
                                           CASE a.attidentity WHEN 'a' THEN 'ALWAYS' ELSE 'BY DEFAULT' END,
                                           sn.nspname, sc.relname, sq.seqincrement, sq.seqmin, sq.seqmax,
                                           sq.seqstart, sq.seqcache,
                                           CASE WHEN sq.seqcycle THEN 'CYCLE' ELSE 'NO CYCLE' END)
                               WHEN d.adbin IS NOT NULL
                               THEN ' DEFAULT ' || pg_get_expr(d.adbin, d.adrelid) ELSE '' END
                       || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END
                FROM pg_attribute a
                JOIN pg_class c ON c.oid = a.attrelid
                JOIN pg_namespace n ON n.oid = c.relnamespace
                JOIN pg_type t ON t.oid = a.atttypid
                LEFT JOIN pg_collation co ON co.oid = a.attcollation
                LEFT JOIN pg_namespace cn ON cn.oid = co.collnamespace
                LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
                LEFT JOIN pg_depend sd ON a.attidentity IN ('a', 'd') AND sd.refclassid = 'pg_class'::regclass
                     AND sd.refobjid = a.attrelid AND sd.refobjsubid = a.attnum AND sd.classid = 'pg_class'::regclass
                     AND sd.deptype = 'i'
                LEFT JOIN pg_class sc ON sc.oid = sd.objid AND sc.relkind = 'S'
                LEFT JOIN pg_namespace sn ON sn.oid = sc.relnamespace
                LEFT JOIN pg_sequence sq ON sq.seqrelid = sc.oid
                WHERE c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped AND """ + USER_NAMESPACE + """
                ORDER BY a.attrelid, a.attnum
                """, rs -> new Object[]{rs.getLong(1), rs.getString(2)})) {
            columns.computeIfAbsent((Long) row[0], k -> new ArrayList<>()).add((String) row[1]);
        }
        for (Map.Entry<Long, TableRef> e : tables.entrySet()) {
            List<String> cols = columns.getOrDefault(e.getKey(), List.of());
            ddl.add("CREATE TABLE " + e.getValue().quoted() + " (\n    " + String.join(",\n    ", cols) + "\n)");
        }

        ddl.addAll(Queries.list(source, """
                SELECT format('ALTER SEQUENCE %I.%I OWNED BY %I.%I.%I', sn.nspname, s.relname, tn.nspname, t.relname,
                              a.attname)
                FROM pg_depend d
                JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
                JOIN pg_namespace sn ON sn.oid = s.relnamespace
                JOIN pg_class t ON t.oid = d.refobjid
                JOIN pg_namespace tn ON tn.oid = t.relnamespace
                JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
                WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass AND d.deptype = 'a'
                  AND t.oid = ANY (?::oid[])
                ORDER BY 1
                """, rs -> rs.getString(1), oidArray(tables.keySet())));

        // Constraints other than foreign keys, then indexes, then foreign keys (which need the referenced keys).
        String constraints = """
                SELECT format('ALTER TABLE ONLY %I.%I ADD CONSTRAINT %I %s', n.nspname, c.relname, k.conname,
                              pg_get_constraintdef(k.oid))
                FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE k.conrelid = ANY (?::oid[]) AND k.conislocal AND k.contype = ANY (?::"char"[])
                ORDER BY n.nspname, c.relname, k.contype DESC, k.conname
                """;
        ddl.addAll(Queries.list(source, constraints, rs -> rs.getString(1), oidArray(tables.keySet()), "{p,u,c,x}"));
        ddl.addAll(Queries.list(source, """
                SELECT pg_get_indexdef(i.indexrelid)
                FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
                WHERE i.indrelid = ANY (?::oid[])
                  AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid
                                  AND k.conrelid = i.indrelid AND k.contype IN ('p', 'u', 'x'))
                ORDER BY ic.relname
                """, rs -> rs.getString(1), oidArray(tables.keySet())));
        ddl.addAll(Queries.list(source, constraints, rs -> rs.getString(1), oidArray(tables.keySet()), "{f}"));

        for (Map.Entry<Long, Character> e : replicaIdentity.entrySet()) {
            TableRef t = tables.get(e.getKey());
            switch (e.getValue()) {
                case 'f' -> ddl.add("ALTER TABLE ONLY " + t.quoted() + " REPLICA IDENTITY FULL");
                case 'n' -> ddl.add("ALTER TABLE ONLY " + t.quoted() + " REPLICA IDENTITY NOTHING");
                case 'i' -> Queries.first(source, """
                        SELECT format('ALTER TABLE ONLY %I.%I REPLICA IDENTITY USING INDEX %I', n.nspname, c.relname,
                                      ic.relname)
                        FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
                        JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_class ic ON ic.oid = i.indexrelid
                        WHERE i.indrelid = ? AND i.indisreplident
                        """, rs -> rs.getString(1), e.getKey()).ifPresent(ddl::add); // index dropped: default identity
                default -> {
                }
            }
        }

        List<TableRef> tableList = new ArrayList<>(tables.values());
        tableList.sort(null);
        return new CatalogSchema(tableList, ddl, notCopied);
    }

    /**
     * Creates the schema on the target in one transaction: either all of it exists afterwards or none of it. Tables
     * that already exist with the same name are left alone only when all of them exist (the schema was created by an
     * earlier run, or by the user); a partial set is an error naming the tables.
     *
     * @return whether anything was created
     */
    public boolean applyTo(Connection target, String database) throws SQLException {
        Set<TableRef> existing = new HashSet<>(Queries.list(target, """
                SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE c.relkind IN ('r', 'p')
                """, rs -> new TableRef(rs.getString(1), rs.getString(2))));
        List<TableRef> present = tables.stream().filter(existing::contains).toList();
        if (!tables.isEmpty() && present.size() == tables.size()) {
            return false;
        }
        if (!present.isEmpty()) {
            throw new PgMigrateException(ErrorCode.SCHEMA_COPY_FAILED, database, "the target already has "
                    + present.size() + " of the " + tables.size() + " tables (" + abbreviate(present)
                    + ") but not the others; drop them on the target, or create all of them yourself");
        }
        boolean auto = target.getAutoCommit();
        target.setAutoCommit(false);
        try {
            for (String statement : statements) {
                try {
                    Queries.execute(target, statement);
                } catch (SQLException e) {
                    throw PgMigrateException.fromSql(ErrorCode.SCHEMA_COPY_FAILED, database,
                            "cannot create on the target: " + firstLine(statement), e);
                }
            }
            target.commit();
            return true;
        } catch (RuntimeException | SQLException e) {
            target.rollback();
            throw e;
        } finally {
            target.setAutoCommit(auto);
        }
    }

    private static String oidArray(Set<Long> oids) {
        StringBuilder b = new StringBuilder("{");
        for (Long o : oids) {
            if (b.length() > 1) {
                b.append(',');
            }
            b.append(o);
        }
        return b.append('}').toString();
    }

    private static String abbreviate(List<TableRef> refs) {
        List<String> names = refs.stream().limit(5).map(TableRef::toString).toList();
        return String.join(", ", names) + (refs.size() > 5 ? ", ..." : "");
    }

    private static String firstLine(String s) {
        int nl = s.indexOf('\n');
        return nl < 0 ? s : s.substring(0, nl) + " ...";
    }
}
