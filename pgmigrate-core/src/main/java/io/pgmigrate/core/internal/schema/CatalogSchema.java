package io.pgmigrate.core.internal.schema;

import io.pgmigrate.CoreErrorCode;
import io.pgmigrate.PgMigrateException;
import io.pgmigrate.core.internal.sql.Queries;

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
 * they print fully qualified names). Covers schemas, extensions, enum, range, domain and composite types, functions and
 * procedures, sequences, tables with their columns and constraints, indexes, views, materialized views (created empty),
 * triggers, rules, row-level security and comments. Tables it cannot copy yet (partitioned, unlogged, foreign,
 * inherited) and aggregates are listed in {@link #notCopied()} with the reason; grants and ownership are not copied.
 *
 * @param tables     the tables to replicate, in name order
 * @param beforeData the DDL a table needs before rows arrive, in dependency order: schemas to views
 * @param afterData  what can be built once the rows are there: secondary indexes, foreign keys, replica identity,
 *                   triggers, rules, row-level security, comments
 * @param notCopied  objects left out, each with the reason
 */
public record CatalogSchema(List<TableRef> tables, List<String> beforeData, List<String> afterData,
                            List<String> notCopied) {

    /** Objects that belong to the system or to an extension are never copied as such. */
    // Plain strings with surrounding spaces: text blocks strip the trailing space they are concatenated after.
    private static final String USER_NAMESPACE =
            " n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%' ";
    private static final String NOT_EXTENSION_MEMBER = " NOT EXISTS (SELECT 1 FROM pg_depend e"
            + " WHERE e.classid = 'pg_class'::regclass AND e.objid = c.oid AND e.deptype = 'e') ";

    /**
     * The attributes of the composite type {@code t} as a column list with types and non-default collations: what
     * the copy creates and what {@link SchemaSnapshot} compares, so the two agree by construction.
     */
    static final String COMPOSITE_ATTRIBUTES = """
            (SELECT string_agg(format('%I %s', a.attname, format_type(a.atttypid, a.atttypmod))
                               || CASE WHEN a.attcollation <> 0 AND a.attcollation <> at.typcollation
                                       THEN format(' COLLATE %I.%I', cn.nspname, co.collname) ELSE '' END,
                               ', ' ORDER BY a.attnum)
             FROM pg_attribute a JOIN pg_type at ON at.oid = a.atttypid
             LEFT JOIN pg_collation co ON co.oid = a.attcollation
             LEFT JOIN pg_namespace cn ON cn.oid = co.collnamespace
             WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped)""";

    /**
     * The objects the copy creates that carry an owner and privileges: kind for GRANT and ALTER, name, owner, ACL.
     * A sequence that belongs to a column ({@code linked}) gets its table's owner with it; array types, table row
     * types and multiranges follow the type or table they belong to.
     */
    private static final String OWNED_OBJECTS = """
            SELECT 'SCHEMA' AS kind, format('%I', n.nspname) AS name, n.nspowner AS owner, n.nspacl AS acl,
                   NULL::oid AS rel, false AS linked
            FROM pg_namespace n
            WHERE """ + USER_NAMESPACE + """
              AND n.nspname <> 'public' AND n.nspname NOT LIKE 'pgmigrate\\_%'
              AND NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = 'pg_namespace'::regclass AND e.objid = n.oid
                              AND e.deptype = 'e')
            UNION ALL
            SELECT CASE c.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                                  ELSE 'TABLE' END,
                   format('%I.%I', n.nspname, c.relname), c.relowner, c.relacl, c.oid,
                   EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                           AND c.relkind = 'S' AND d.deptype IN ('a', 'i'))
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S') AND """ + USER_NAMESPACE + " AND " + NOT_EXTENSION_MEMBER + """
              AND NOT EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = c.oid AND NOT c.relispartition)
              AND NOT EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhparent = c.oid AND c.relkind = 'r')
            UNION ALL
            SELECT CASE p.prokind WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END, p.oid::regprocedure::text,
                   p.proowner, p.proacl, NULL, false
            FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
            WHERE p.prokind IN ('f', 'p', 'w') AND """ + USER_NAMESPACE + """
              AND NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = 'pg_proc'::regclass AND e.objid = p.oid
                              AND e.deptype = 'e')
            UNION ALL
            SELECT CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END, format('%I.%I', n.nspname, t.typname),
                   t.typowner, t.typacl, NULL, false
            FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
            WHERE t.typtype IN ('e', 'r', 'd', 'c') AND """ + USER_NAMESPACE + """
              AND (t.typtype <> 'c' OR (SELECT c.relkind FROM pg_class c WHERE c.oid = t.typrelid) = 'c')
              AND NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = 'pg_type'::regclass AND e.objid = t.oid
                              AND e.deptype = 'e')
            """;

    /**
     * Grants as the source has them: an object with an ACL of its own loses PUBLIC's default privileges first, then
     * gets every grant but its owner's (which the owner has anyway); column grants follow their table's.
     */
    private static final String GRANTS = """
            WITH o AS (""" + OWNED_OBJECTS + """
            )
            SELECT s FROM (
                SELECT o.kind, o.name, 0 AS step, format('REVOKE ALL ON %s %s FROM PUBLIC',
                       CASE o.kind WHEN 'VIEW' THEN 'TABLE' WHEN 'MATERIALIZED VIEW' THEN 'TABLE' ELSE o.kind END,
                       o.name) AS s
                FROM o WHERE o.acl IS NOT NULL
                UNION ALL
                SELECT o.kind, o.name, 1, format('GRANT %s ON %s %s TO %s%s', a.privilege_type,
                       CASE o.kind WHEN 'VIEW' THEN 'TABLE' WHEN 'MATERIALIZED VIEW' THEN 'TABLE' ELSE o.kind END,
                       o.name, CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END,
                       CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END)
                FROM o CROSS JOIN LATERAL aclexplode(o.acl) a
                WHERE o.acl IS NOT NULL AND a.grantee <> o.owner
                UNION ALL
                SELECT o.kind, o.name, 2, format('GRANT %s (%I) ON TABLE %s TO %s%s', a.privilege_type, att.attname,
                       o.name, CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END,
                       CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END)
                FROM o JOIN pg_attribute att ON att.attrelid = o.rel AND att.attnum > 0 AND NOT att.attisdropped
                CROSS JOIN LATERAL aclexplode(att.attacl) a
                WHERE att.attacl IS NOT NULL AND a.grantee <> o.owner
            ) g
            ORDER BY g.kind, g.name, g.step, g.s
            """;

    private static final String OWNERS = """
            WITH o AS (""" + OWNED_OBJECTS + """
            )
            SELECT format('ALTER %s %s OWNER TO %I', o.kind, o.name, pg_get_userbyid(o.owner))
            FROM o WHERE NOT o.linked
            ORDER BY o.kind, o.name
            """;

    /** The roles the copy's owners and grants name ({@link #read(Connection, boolean)} with true): they must exist. */
    public static List<String> rolesOfOwnersAndGrants(Connection source) throws SQLException {
        return Queries.list(source, """
                WITH o AS (""" + OWNED_OBJECTS + """
                )
                SELECT DISTINCT r FROM (
                    SELECT pg_get_userbyid(o.owner) AS r FROM o
                    UNION ALL
                    SELECT pg_get_userbyid(a.grantee) FROM o CROSS JOIN LATERAL aclexplode(o.acl) a WHERE a.grantee <> 0
                    UNION ALL
                    SELECT pg_get_userbyid(a.grantee) FROM o
                    JOIN pg_attribute att ON att.attrelid = o.rel AND att.attnum > 0 AND NOT att.attisdropped
                    CROSS JOIN LATERAL aclexplode(att.attacl) a WHERE a.grantee <> 0
                ) x
                ORDER BY 1
                """, rs -> rs.getString(1));
    }

    public CatalogSchema {
        tables = List.copyOf(tables);
        beforeData = List.copyOf(beforeData);
        afterData = List.copyOf(afterData);
        notCopied = List.copyOf(notCopied);
    }

    /**
     * Everything, for a copy whose data arrives through the subscription into a complete schema: {@link #beforeData()}
     * then {@link #afterData()}.
     */
    public List<String> statements() {
        List<String> all = new ArrayList<>(beforeData);
        all.addAll(afterData);
        return all;
    }

    /** Which PostgreSQL 12 lacks: pg_trigger.tgparentid (13+) marks triggers cloned onto partitions. */
    private static String tgParent(Connection c) throws SQLException {
        return c.getMetaData().getDatabaseMajorVersion() >= 13 ? "t.tgparentid = 0" : "true";
    }

    /** Reads the schema of the database {@code source} is connected to, without owners and grants. */
    public static CatalogSchema read(Connection source) throws SQLException {
        return read(source, false);
    }

    /**
     * Reads the schema of the database {@code source} is connected to.
     *
     * @param ownershipAndGrants whether to give every object its source owner and copy its grants (last, so the
     *                           migration's role creates everything and then hands it over)
     */
    public static CatalogSchema read(Connection source, boolean ownershipAndGrants) throws SQLException {
        List<String> ddl = new ArrayList<>();
        List<String> afterData = new ArrayList<>();
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

        // Types: enums and ranges first (functions may take them), then functions, then domains (whose checks may
        // call functions) and composites (which may use domains). Bodies are not checked while they are created
        // (check_function_bodies = off in applyTo), so a function may name tables created further down.
        String userType = """
                FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
                WHERE """ + USER_NAMESPACE + """
                  AND NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = 'pg_type'::regclass AND e.objid = t.oid
                                  AND e.deptype = 'e')
                """;
        ddl.addAll(Queries.list(source, """
                SELECT format('CREATE TYPE %I.%I AS ENUM (%s)', n.nspname, t.typname,
                              (SELECT string_agg(quote_literal(e.enumlabel), ', ' ORDER BY e.enumsortorder)
                               FROM pg_enum e WHERE e.enumtypid = t.oid))
                """ + userType + " AND t.typtype = 'e' ORDER BY n.nspname, t.typname", rs -> rs.getString(1)));
        ddl.addAll(Queries.list(source, """
                SELECT format('CREATE TYPE %I.%I AS RANGE (SUBTYPE = %s%s)', n.nspname, t.typname,
                              format_type(r.rngsubtype, NULL),
                              CASE WHEN r.rngsubdiff <> 0 THEN ', SUBTYPE_DIFF = ' || r.rngsubdiff::regproc::text
                                   ELSE '' END)
                FROM pg_range r JOIN pg_type t ON t.oid = r.rngtypid JOIN pg_namespace n ON n.oid = t.typnamespace
                WHERE """ + USER_NAMESPACE + """
                  AND NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = 'pg_type'::regclass AND e.objid = t.oid
                                  AND e.deptype = 'e')
                ORDER BY n.nspname, t.typname
                """, rs -> rs.getString(1)));
        ddl.addAll(Queries.list(source, """
                SELECT pg_get_functiondef(p.oid)
                FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                WHERE """ + USER_NAMESPACE + """
                  AND p.prokind IN ('f', 'p', 'w')
                  AND NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = 'pg_proc'::regclass AND e.objid = p.oid
                                  AND e.deptype = 'e')
                ORDER BY p.oid
                """, rs -> rs.getString(1)));
        notCopied.addAll(Queries.list(source, """
                SELECT 'aggregate ' || p.oid::regprocedure::text || ': aggregates are not copied yet'
                FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                WHERE """ + USER_NAMESPACE + """
                  AND p.prokind = 'a'
                  AND NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = 'pg_proc'::regclass AND e.objid = p.oid
                                  AND e.deptype = 'e')
                ORDER BY 1
                """, rs -> rs.getString(1)));
        record Domain(long oid, String create) { }
        for (Domain d : Queries.list(source, """
                SELECT t.oid, format('CREATE DOMAIN %I.%I AS %s', n.nspname, t.typname,
                                     format_type(t.typbasetype, t.typtypmod))
                       || CASE WHEN t.typcollation <> 0 AND t.typcollation <> bt.typcollation
                               THEN (SELECT format(' COLLATE %I.%I', cn.nspname, co.collname) FROM pg_collation co
                                     JOIN pg_namespace cn ON cn.oid = co.collnamespace WHERE co.oid = t.typcollation)
                               ELSE '' END
                       || CASE WHEN t.typdefault IS NOT NULL THEN ' DEFAULT ' || t.typdefault ELSE '' END
                       || CASE WHEN t.typnotnull THEN ' NOT NULL' ELSE '' END
                FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace JOIN pg_type bt ON bt.oid = t.typbasetype
                WHERE t.typtype = 'd' AND """ + USER_NAMESPACE + """
                  AND NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = 'pg_type'::regclass AND e.objid = t.oid
                                  AND e.deptype = 'e')
                ORDER BY t.oid
                """, rs -> new Domain(rs.getLong(1), rs.getString(2)))) {
            ddl.add(d.create());
            ddl.addAll(Queries.list(source, """
                    SELECT format('ALTER DOMAIN %I.%I ADD CONSTRAINT %I %s', n.nspname, t.typname, k.conname,
                                  pg_get_constraintdef(k.oid))
                    FROM pg_constraint k JOIN pg_type t ON t.oid = k.contypid JOIN pg_namespace n ON n.oid = t.typnamespace
                    WHERE k.contypid = ? AND k.contype = 'c'
                    ORDER BY k.conname
                    """, rs -> rs.getString(1), d.oid()));
        }
        ddl.addAll(Queries.list(source, """
                SELECT format('CREATE TYPE %I.%I AS (%s)', n.nspname, t.typname, """ + COMPOSITE_ATTRIBUTES + ")"
                + userType + """
                  AND t.typtype = 'c' AND (SELECT c.relkind FROM pg_class c WHERE c.oid = t.typrelid) = 'c'
                ORDER BY t.oid
                """, rs -> rs.getString(1)));

        // Tables: plain and unlogged ones, partitioned tables and their partitions. Only permanent tables are
        // replicated: partitioned ones through their root (publish_via_partition_root, PostgreSQL 13+), so a row
        // lands in whatever partition the target's bounds choose. Inheritance and foreign tables are reported.
        boolean viaRoot = source.getMetaData().getDatabaseMajorVersion() >= 13;
        Map<Long, TableRef> tables = new LinkedHashMap<>();
        Map<Long, TableRef> created = new LinkedHashMap<>();
        Map<Long, Character> replicaIdentity = new LinkedHashMap<>();
        Map<Long, String[]> createTable = new LinkedHashMap<>(); // the statement before and after the columns
        List<Long> partitions = new ArrayList<>();
        record Relation(long oid, TableRef table, String kind, boolean permanent, boolean partition,
                        boolean inheritance, char replicaIdentity, String options, String partitionOf, long parent) { }
        for (Relation row : Queries.list(source, """
                SELECT c.oid, n.nspname, c.relname, c.relkind, c.relpersistence, c.relispartition,
                       EXISTS (SELECT 1 FROM pg_inherits i WHERE (i.inhrelid = c.oid AND NOT c.relispartition)
                                                            OR (i.inhparent = c.oid AND c.relkind <> 'p')),
                       c.relreplident,
                       CASE WHEN c.relkind = 'p' THEN ' PARTITION BY ' || pg_get_partkeydef(c.oid) ELSE '' END
                       || CASE WHEN am.amname IS NOT NULL AND am.amname <> 'heap'
                               THEN format(' USING %I', am.amname) ELSE '' END
                       || CASE WHEN c.reloptions IS NOT NULL
                               THEN ' WITH (' || array_to_string(c.reloptions, ', ') || ')' ELSE '' END,
                       (SELECT format('%I.%I', pn.nspname, pc.relname) || ' ' || pg_get_expr(c.relpartbound, c.oid)
                        FROM pg_inherits i JOIN pg_class pc ON pc.oid = i.inhparent
                        JOIN pg_namespace pn ON pn.oid = pc.relnamespace
                        WHERE i.inhrelid = c.oid AND c.relispartition),
                       (WITH RECURSIVE up(oid, depth) AS (
                            SELECT c.oid, 0
                            UNION ALL
                            SELECT i.inhparent, up.depth + 1 FROM up JOIN pg_inherits i ON i.inhrelid = up.oid
                            JOIN pg_class pc ON pc.oid = up.oid WHERE pc.relispartition)
                        SELECT max(depth) FROM up),
                       (SELECT i.inhparent FROM pg_inherits i WHERE i.inhrelid = c.oid AND c.relispartition)
                FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                LEFT JOIN pg_am am ON am.oid = c.relam
                WHERE c.relkind IN ('r', 'p', 'f') AND """ + USER_NAMESPACE + " AND " + NOT_EXTENSION_MEMBER + """
                ORDER BY 11, n.nspname, c.relname
                """, rs -> new Relation(rs.getLong(1), new TableRef(rs.getString(2), rs.getString(3)),
                rs.getString(4), "p".equals(rs.getString(5)), rs.getBoolean(6), rs.getBoolean(7),
                rs.getString(8).charAt(0), rs.getString(9), rs.getString(10), rs.getLong(12)))) {
            long oid = row.oid();
            TableRef t = row.table();
            String kind = row.kind();
            boolean permanent = row.permanent();
            boolean partition = row.partition();
            String reason = null;
            if (kind.equals("f")) {
                reason = "foreign tables are not copied; recreate the server, user mapping and table on the target";
            } else if (row.inheritance()) {
                reason = "table inheritance is not copied; convert it to declarative partitioning";
            } else if (kind.equals("p") && !viaRoot) {
                reason = "partitioned tables replicate through their root, which needs a source on PostgreSQL 13"
                        + " or later";
            } else if (partition && !created.containsKey(row.parent())) {
                reason = "its partitioned table is not copied";
            }
            if (reason != null) {
                notCopied.add("table " + t + ": " + reason);
                continue;
            }
            String options = row.options();
            String unlogged = permanent ? "" : "UNLOGGED ";
            if (partition) {
                partitions.add(oid);
                createTable.put(oid, new String[]{"CREATE " + unlogged + "TABLE " + t.quoted() + " PARTITION OF "
                        + row.partitionOf() + options});
            } else {
                createTable.put(oid, new String[]{"CREATE " + unlogged + "TABLE " + t.quoted() + " (\n    ",
                        "\n)" + options});
                if (permanent) {
                    tables.put(oid, t); // unlogged tables are created, but their rows cannot be replicated
                }
            }
            created.put(oid, t);
            replicaIdentity.put(oid, row.replicaIdentity());
        }

        // Sequences that are not identity sequences (those come with their column).
        ddl.addAll(Queries.list(source, """
                SELECT format('CREATE SEQUENCE IF NOT EXISTS %I.%I AS %s INCREMENT BY %s MINVALUE %s MAXVALUE %s START WITH %s CACHE %s %s',
                              n.nspname, c.relname, format_type(s.seqtypid, NULL), s.seqincrement, s.seqmin, s.seqmax,
                              s.seqstart, s.seqcache, CASE WHEN s.seqcycle THEN 'CYCLE' ELSE 'NO CYCLE' END),
                       n.nspname, c.relname
                FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE """ + USER_NAMESPACE + " AND " + NOT_EXTENSION_MEMBER + """
                  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                                  AND d.objid = c.oid AND d.deptype = 'i')
                ORDER BY n.nspname, c.relname
                """, rs -> rs.getString(1)));

        // Columns, grouped per table in attribute order.
        Map<Long, List<String>> columns = new LinkedHashMap<>();
        record Column(long table, String definition) { }
        for (Column row : Queries.list(source, """
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
                WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND a.attnum > 0 AND NOT a.attisdropped
                  AND """ + USER_NAMESPACE + """
                ORDER BY a.attrelid, a.attnum
                """, rs -> new Column(rs.getLong(1), rs.getString(2)))) {
            columns.computeIfAbsent(row.table(), k -> new ArrayList<>()).add(row.definition());
        }
        for (Map.Entry<Long, String[]> e : createTable.entrySet()) {
            if (!partitions.contains(e.getKey())) {
                List<String> cols = columns.getOrDefault(e.getKey(), List.of());
                ddl.add(e.getValue()[0] + String.join(",\n    ", cols) + e.getValue()[1]);
            }
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
                """, rs -> rs.getString(1), oidArray(created.keySet())));

        // Constraints other than foreign keys, then the partitions (which clone their parent's keys, checks,
        // indexes and triggers as they are created) and what is their own, then indexes, then foreign keys (which
        // need the referenced keys). ONLY keeps a plain table's constraint off inheritance children; a partitioned
        // table takes none (it has no partitions yet when its constraints are added).
        String constraints = """
                SELECT format('ALTER TABLE %s%I.%I ADD CONSTRAINT %I %s',
                              CASE WHEN c.relkind = 'r' THEN 'ONLY ' ELSE '' END, n.nspname, c.relname, k.conname,
                              pg_get_constraintdef(k.oid))
                FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE k.conrelid = ANY (?::oid[]) AND k.conislocal AND k.conparentid = 0
                  AND k.contype = ANY (?::"char"[])
                ORDER BY n.nspname, c.relname, k.contype DESC, k.conname
                """;
        Set<Long> parents = new HashSet<>(created.keySet());
        parents.removeAll(partitions);
        ddl.addAll(Queries.list(source, constraints, rs -> rs.getString(1), oidArray(parents), "{p,u,c,x}"));
        for (Long p : partitions) {
            ddl.add(createTable.get(p)[0]);
        }
        // A partition's columns come from its parent; a default or NOT NULL of its own is set afterwards.
        ddl.addAll(Queries.list(source, """
                SELECT format('ALTER TABLE ONLY %I.%I ALTER COLUMN %I ', n.nspname, c.relname, a.attname)
                       || CASE WHEN d.adbin IS NOT NULL THEN 'SET DEFAULT ' || pg_get_expr(d.adbin, d.adrelid)
                               ELSE 'DROP DEFAULT' END
                       || CASE WHEN a.attnotnull AND NOT pa.attnotnull
                               THEN format(', ALTER COLUMN %I SET NOT NULL', a.attname) ELSE '' END
                FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
                JOIN pg_inherits i ON i.inhrelid = c.oid
                JOIN pg_attribute pa ON pa.attrelid = i.inhparent AND pa.attname = a.attname
                LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
                LEFT JOIN pg_attrdef pd ON pd.adrelid = pa.attrelid AND pd.adnum = pa.attnum
                WHERE c.oid = ANY (?::oid[]) AND a.attnum > 0 AND NOT a.attisdropped
                  AND (pg_get_expr(d.adbin, d.adrelid) IS DISTINCT FROM pg_get_expr(pd.adbin, pd.adrelid)
                       OR (a.attnotnull AND NOT pa.attnotnull))
                ORDER BY c.oid, a.attnum
                """, rs -> rs.getString(1), oidArray(partitions)));
        ddl.addAll(Queries.list(source, constraints, rs -> rs.getString(1), oidArray(partitions), "{p,u,c,x}"));
        // A partitioned table's index is created ON ONLY it, its partitions' indexes on them, and then attached:
        // the same names as on the source, which an index cascading to the partitions would not guarantee.
        String indexes = """
                SELECT pg_get_indexdef(i.indexrelid)
                FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
                WHERE i.indrelid = ANY (?::oid[])
                  AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid
                                  AND k.conrelid = i.indrelid AND k.contype IN ('p', 'u', 'x'))
                ORDER BY ic.relname
                """;
        afterData.addAll(Queries.list(source, indexes, rs -> rs.getString(1), oidArray(created.keySet())));
        afterData.addAll(Queries.list(source, """
                SELECT format('ALTER INDEX %I.%I ATTACH PARTITION %I.%I', pn.nspname, p.relname, cn.nspname, ic.relname)
                FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
                JOIN pg_namespace cn ON cn.oid = ic.relnamespace
                JOIN pg_inherits h ON h.inhrelid = i.indexrelid
                JOIN pg_class p ON p.oid = h.inhparent JOIN pg_namespace pn ON pn.oid = p.relnamespace
                WHERE i.indrelid = ANY (?::oid[])
                  AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid
                                  AND k.conrelid = i.indrelid AND k.contype IN ('p', 'u', 'x'))
                ORDER BY (SELECT count(*) FROM pg_partition_ancestors(i.indrelid)) DESC, ic.relname
                """, rs -> rs.getString(1), oidArray(partitions)));
        afterData.addAll(Queries.list(source, constraints, rs -> rs.getString(1), oidArray(created.keySet()), "{f}"));

        // Views and materialized views in creation order (a view can only be created after what it reads), then
        // triggers, rules, row-level security and comments. Materialized views are created empty: their data is
        // computed from tables that are still being copied, so they are refreshed after the cutover.
        ddl.addAll(Queries.list(source, """
                SELECT CASE c.relkind
                         WHEN 'v' THEN format('CREATE VIEW %I.%I%s AS %s', n.nspname, c.relname,
                                              CASE WHEN c.reloptions IS NOT NULL
                                                   THEN ' WITH (' || array_to_string(c.reloptions, ', ') || ')'
                                                   ELSE '' END,
                                              pg_get_viewdef(c.oid))
                         ELSE format('CREATE MATERIALIZED VIEW %I.%I AS %s WITH NO DATA', n.nspname, c.relname,
                                     rtrim(pg_get_viewdef(c.oid), ';'))
                       END
                FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE c.relkind IN ('v', 'm') AND """ + USER_NAMESPACE + " AND " + NOT_EXTENSION_MEMBER + """
                ORDER BY c.oid
                """, rs -> rs.getString(1)));
        afterData.addAll(Queries.list(source, """
                SELECT pg_get_indexdef(i.indexrelid)
                FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
                JOIN pg_class ic ON ic.oid = i.indexrelid
                WHERE c.relkind = 'm' AND """ + USER_NAMESPACE + " AND " + NOT_EXTENSION_MEMBER + """
                ORDER BY ic.relname
                """, rs -> rs.getString(1)));
        afterData.addAll(Queries.list(source, ("""
                SELECT pg_get_triggerdef(t.oid)
                       || CASE t.tgenabled
                              WHEN 'D' THEN format('; ALTER TABLE %I.%I DISABLE TRIGGER %I', n.nspname, c.relname,
                                                   t.tgname)
                              WHEN 'R' THEN format('; ALTER TABLE %I.%I ENABLE REPLICA TRIGGER %I', n.nspname,
                                                   c.relname, t.tgname)
                              WHEN 'A' THEN format('; ALTER TABLE %I.%I ENABLE ALWAYS TRIGGER %I', n.nspname,
                                                   c.relname, t.tgname)
                              ELSE '' END
                FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE NOT t.tgisinternal AND t.tgname NOT LIKE 'pgmigrate\\_%' AND t.tgparentid = 0
                  AND """ + USER_NAMESPACE + " AND " + NOT_EXTENSION_MEMBER + """
                ORDER BY n.nspname, c.relname, t.tgname
                """).replace("t.tgparentid = 0", tgParent(source)), rs -> rs.getString(1)));
        afterData.addAll(Queries.list(source, """
                SELECT pg_get_ruledef(r.oid)
                FROM pg_rewrite r JOIN pg_class c ON c.oid = r.ev_class JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE r.rulename <> '_RETURN' AND """ + USER_NAMESPACE + " AND " + NOT_EXTENSION_MEMBER + """
                ORDER BY n.nspname, c.relname, r.rulename
                """, rs -> rs.getString(1)));
        afterData.addAll(Queries.list(source, """
                SELECT format('ALTER TABLE %I.%I ENABLE ROW LEVEL SECURITY', n.nspname, c.relname)
                       || CASE WHEN c.relforcerowsecurity
                               THEN format('; ALTER TABLE %I.%I FORCE ROW LEVEL SECURITY', n.nspname, c.relname)
                               ELSE '' END
                FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE c.relrowsecurity AND """ + USER_NAMESPACE + " AND " + NOT_EXTENSION_MEMBER + """
                ORDER BY n.nspname, c.relname
                """, rs -> rs.getString(1)));
        afterData.addAll(Queries.list(source, """
                SELECT format('CREATE POLICY %I ON %I.%I AS %s FOR %s TO %s%s%s', p.policyname, p.schemaname,
                              p.tablename, p.permissive, p.cmd,
                              (SELECT string_agg(CASE WHEN r = 'public' THEN 'PUBLIC' ELSE quote_ident(r) END, ', ')
                               FROM unnest(p.roles) r),
                              CASE WHEN p.qual IS NOT NULL THEN ' USING (' || p.qual || ')' ELSE '' END,
                              CASE WHEN p.with_check IS NOT NULL THEN ' WITH CHECK (' || p.with_check || ')'
                                   ELSE '' END)
                FROM pg_policies p
                WHERE p.schemaname NOT IN ('pg_catalog', 'information_schema')
                ORDER BY p.schemaname, p.tablename, p.policyname
                """, rs -> rs.getString(1)));
        afterData.addAll(Queries.list(source, """
                SELECT format('COMMENT ON %s %s IS %L', o.kind, o.name, d.description)
                FROM pg_description d
                CROSS JOIN LATERAL pg_identify_object(d.classoid, d.objoid, d.objsubid) i
                CROSS JOIN LATERAL (SELECT CASE i.type
                           WHEN 'table column' THEN 'COLUMN' WHEN 'view column' THEN 'COLUMN'
                           WHEN 'materialized view column' THEN 'COLUMN'
                           WHEN 'table constraint' THEN 'CONSTRAINT' WHEN 'domain constraint' THEN 'CONSTRAINT'
                           WHEN 'table' THEN 'TABLE' WHEN 'view' THEN 'VIEW'
                           WHEN 'materialized view' THEN 'MATERIALIZED VIEW' WHEN 'index' THEN 'INDEX'
                           WHEN 'sequence' THEN 'SEQUENCE' WHEN 'schema' THEN 'SCHEMA' WHEN 'type' THEN 'TYPE'
                           WHEN 'domain' THEN 'DOMAIN' WHEN 'function' THEN 'FUNCTION'
                           WHEN 'procedure' THEN 'PROCEDURE' WHEN 'trigger' THEN 'TRIGGER' WHEN 'rule' THEN 'RULE'
                           WHEN 'policy' THEN 'POLICY' END AS kind,
                         CASE WHEN i.type IN ('table constraint', 'trigger', 'rule', 'policy')
                              THEN regexp_replace(i.identity, '^(.*) on (.*)$', '\\1 ON \\2')
                              WHEN i.type = 'domain constraint'
                              THEN regexp_replace(i.identity, '^(.*) on (.*)$', '\\1 ON DOMAIN \\2')
                              ELSE i.identity END AS name) o
                WHERE o.kind IS NOT NULL
                  -- a schema's own comment has no schema of its own: its name is the identity
                  AND coalesce(i.schema, CASE WHEN i.type = 'schema' THEN i.identity END)
                      NOT IN ('pg_catalog', 'information_schema')
                  AND coalesce(i.schema, CASE WHEN i.type = 'schema' THEN i.identity END) NOT LIKE 'pg\\_%'
                  AND coalesce(i.schema, CASE WHEN i.type = 'schema' THEN i.identity END) NOT LIKE 'pgmigrate\\_%'
                  AND NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = d.classoid AND e.objid = d.objoid
                                  AND e.deptype = 'e')
                ORDER BY 1
                """, rs -> rs.getString(1)));

        for (Map.Entry<Long, Character> e : replicaIdentity.entrySet()) {
            TableRef t = tables.get(e.getKey());
            switch (e.getValue()) {
                case 'f' -> afterData.add("ALTER TABLE ONLY " + t.quoted() + " REPLICA IDENTITY FULL");
                case 'n' -> afterData.add("ALTER TABLE ONLY " + t.quoted() + " REPLICA IDENTITY NOTHING");
                case 'i' -> Queries.first(source, """
                        SELECT format('ALTER TABLE ONLY %I.%I REPLICA IDENTITY USING INDEX %I', n.nspname, c.relname,
                                      ic.relname)
                        FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
                        JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_class ic ON ic.oid = i.indexrelid
                        WHERE i.indrelid = ? AND i.indisreplident
                        """, rs -> rs.getString(1), e.getKey()).ifPresent(afterData::add); // index gone: default
                default -> {
                }
            }
        }

        List<TableRef> tableList = new ArrayList<>(tables.values());
        tableList.sort(null);
        if (ownershipAndGrants) {
            afterData.addAll(Queries.list(source, GRANTS, rs -> rs.getString(1)));
            afterData.addAll(Queries.list(source, OWNERS, rs -> rs.getString(1)));
        }
        return new CatalogSchema(tableList, ddl, afterData, notCopied);
    }

    /**
     * Creates the schema on the target in one transaction: either all of it exists afterwards or none of it. Tables
     * that already exist with the same name are left alone only when all of them exist (the schema was created by an
     * earlier run, or by the user); a partial set is an error naming the tables.
     *
     * @return whether anything was created
     */
    public boolean applyTo(Connection target, String database) throws SQLException {
        return apply(target, database, tables, statements());
    }

    /**
     * Runs {@code statements} on the target in one transaction unless every one of {@code tables} exists there
     * already, as {@link #applyTo} describes. A statement may hold several commands (a pg_dump script).
     */
    public static boolean apply(Connection target, String database, List<TableRef> tables, List<String> statements)
            throws SQLException {
        Set<TableRef> existing = new HashSet<>(Queries.list(target, """
                SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE c.relkind IN ('r', 'p')
                """, rs -> new TableRef(rs.getString(1), rs.getString(2))));
        List<TableRef> present = tables.stream().filter(existing::contains).toList();
        if (!tables.isEmpty() && present.size() == tables.size()) {
            return false;
        }
        if (!present.isEmpty()) {
            throw new PgMigrateException(CoreErrorCode.SCHEMA_COPY_FAILED, database, "the target already has "
                    + present.size() + " of the " + tables.size() + " tables (" + abbreviate(present)
                    + ") but not the others; drop them on the target, or create all of them yourself");
        }
        Queries.inTransaction(target, () -> {
            // A function body may name objects created further down.
            Queries.execute(target, "SET LOCAL check_function_bodies = off");
            for (String statement : statements) {
                try {
                    Queries.execute(target, statement);
                } catch (SQLException e) {
                    throw PgMigrateException.fromSql(CoreErrorCode.SCHEMA_COPY_FAILED, database,
                            "cannot create on the target: " + (statement.startsWith("--")
                                    ? "pg_dump's schema script" : firstLine(statement)), e);
                }
            }
        });
        return true;
    }

    private static String oidArray(java.util.Collection<Long> oids) {
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
