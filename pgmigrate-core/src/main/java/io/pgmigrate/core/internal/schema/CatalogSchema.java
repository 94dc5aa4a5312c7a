package io.pgmigrate.core.internal.schema;

import io.pgmigrate.CoreErrorCode;
import io.pgmigrate.PgMigrateException;
import io.pgmigrate.core.internal.sql.Queries;

import java.sql.Connection;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The schema of one source database as the DDL that recreates it on a target, in an order the target can create it.
 * Read kind by kind ({@link CatalogReader}) with PostgreSQL's own {@code format_type} and {@code pg_get_*def}
 * functions, and ordered from the source's {@code pg_depend} ({@link DependencyOrder}), as pg_dump does. Every kind of
 * object an application database holds is covered (docs/schema.md lists them); tables it cannot copy (foreign,
 * inherited) are in {@link #notCopied()}, objects it cannot create (base types and text search parsers in C, a
 * dependency cycle no shell breaks) in {@link #refused()}.
 *
 * @param tables      the tables to replicate, in name order
 * @param beforeData  the DDL a table needs before rows arrive, in dependency order: schemas to views
 * @param indexes     the indexes built once the rows are there, a plain table's key indexes among them: each one
 *                    {@code CREATE INDEX IF NOT EXISTS}, independent of the others, so they may be built at once and
 *                    again after a crash
 * @param afterData   what comes after the indexes, in dependency order: keys taking over their index, replica
 *                    identity, triggers, rules, row-level security, comments
 * @param foreignKeys the foreign keys and what depends on them, after the rest: a plain table's valid foreign key
 *                    added {@code NOT VALID}, which checks nothing
 * @param validations the checks of those foreign keys ({@code VALIDATE CONSTRAINT}), last; each may run on a session
 *                    of its own, several at once, and again
 * @param notCopied   objects left out, each with the reason; they do not stop a copy
 * @param refused     objects the copy cannot create, each with the reason and the fix: a copy is refused while any
 *                    is here ({@link #requireCopyable})
 */
public record CatalogSchema(List<TableRef> tables, List<String> beforeData, List<String> indexes,
                            List<String> afterData, List<String> foreignKeys, List<String> validations,
                            List<String> notCopied, List<Refusal> refused) {

    /**
     * An object the copy cannot create.
     *
     * @param object what it is, such as {@code base type app.money}
     * @param reason why the copy cannot create it
     * @param fix    what to do about it
     */
    public record Refusal(String object, String reason, String fix) {

        @Override
        public String toString() {
            return object + ": " + reason + "; " + fix;
        }
    }

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
    static final String GRANTS = """
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

    static final String OWNERS = """
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
        indexes = List.copyOf(indexes);
        afterData = List.copyOf(afterData);
        foreignKeys = List.copyOf(foreignKeys);
        validations = List.copyOf(validations);
        notCopied = List.copyOf(notCopied);
        refused = List.copyOf(refused);
    }

    /** Everything, in an order that creates it on an empty database: before the data, then after it. */
    public List<String> statements() {
        List<String> all = new ArrayList<>(beforeData);
        all.addAll(afterDataStatements());
        return all;
    }

    /** What comes after the data, in one list: indexes, then the rest, then foreign keys and their checks. */
    public List<String> afterDataStatements() {
        List<String> all = new ArrayList<>(indexes);
        all.addAll(afterData);
        all.addAll(foreignKeys);
        all.addAll(validations);
        return all;
    }

    /** Reads the schema of the database {@code source} is connected to, without owners and grants. */
    public static CatalogSchema read(Connection source) throws SQLException {
        return read(source, false);
    }

    /**
     * Reads the schema of the database {@code source} is connected to, for a target that needs the same words quoted
     * as the source.
     */
    public static CatalogSchema read(Connection source, boolean ownershipAndGrants) throws SQLException {
        return read(source, ownershipAndGrants, CatalogReader.keywords(source));
    }

    /**
     * Reads the schema of the database {@code source} is connected to, in an order the target can create it: each
     * kind of object read by its own step ({@link CatalogReader}), then ordered from the source's {@code pg_depend}
     * ({@link DependencyOrder}).
     *
     * @param ownershipAndGrants whether to give every object its source owner and copy its grants and default
     *                           privileges (last, so the migration's role creates everything and then hands it over)
     * @param targetKeywords     the words the target needs quoted as names ({@link #keywords(Connection)} of the
     *                           target): a parameter name that became one since the source's major is quoted
     */
    public static CatalogSchema read(Connection source, boolean ownershipAndGrants, Set<String> targetKeywords)
            throws SQLException {
        CatalogReader reader = new CatalogReader(source, ownershipAndGrants, targetKeywords);
        reader.readAll();
        List<Refusal> refused = new ArrayList<>(reader.refused);
        List<CatalogObject> ordered = List.of();
        try {
            ordered = DependencyOrder.sort(reader.objects, DependencyOrder.readDepends(source), reader.partOf,
                    new HashMap<>(reader.viewShells));
        } catch (DependencyOrder.CycleException e) {
            refused.add(new Refusal("dependency cycle", e.getMessage(), "break the cycle on the source (for"
                    + " example, a column default that calls a function taking the table's row type can call a"
                    + " wrapper instead), or use SchemaStrategy.PG_DUMP or NONE"));
        }
        List<String> before = new ArrayList<>();
        List<String> indexes = new ArrayList<>();
        List<String> after = new ArrayList<>();
        List<String> foreignKeys = new ArrayList<>();
        List<String> validations = new ArrayList<>();
        Set<CatalogObject.Ref> withForeignKeys = new HashSet<>();
        for (CatalogObject o : ordered) {
            if (o.stage() == CatalogObject.Stage.BEFORE_DATA) {
                before.addAll(o.ddl());
            } else if (o.kind().equals("foreign key")) {
                withForeignKeys.add(o.ref());
                foreignKeys.add(o.ddl().get(0));
                validations.addAll(o.ddl().subList(1, o.ddl().size()));
            } else if (o.needs().stream().anyMatch(withForeignKeys::contains)) {
                withForeignKeys.add(o.ref());
                foreignKeys.addAll(o.ddl());
            } else if (o.kind().equals("index")) {
                indexes.add(ifNotExists(o.ddl().get(0)));
                after.addAll(o.ddl().subList(1, o.ddl().size()));
            } else {
                after.addAll(o.ddl());
            }
        }
        List<TableRef> tableList = new ArrayList<>(reader.replicated.values());
        tableList.sort(null);
        return new CatalogSchema(tableList, before, indexes, after, foreignKeys, validations, reader.notCopied,
                refused);
    }

    /** {@code CREATE [UNIQUE] INDEX name ...} as pg_get_indexdef prints it, made {@code IF NOT EXISTS}. */
    static String ifNotExists(String createIndex) {
        for (String prefix : List.of("CREATE UNIQUE INDEX ", "CREATE INDEX ")) {
            if (createIndex.startsWith(prefix)) {
                return prefix + "IF NOT EXISTS " + createIndex.substring(prefix.length());
            }
        }
        throw new IllegalArgumentException("not an index definition: " + createIndex);
    }

    /** The words a server needs quoted as names: its keywords other than the unreserved ones. */
    public static Set<String> keywords(Connection c) throws SQLException {
        return CatalogReader.keywords(c);
    }

    /**
     * Refuses a schema with objects the copy cannot create, before anything is changed.
     *
     * @throws PgMigrateException {@link CoreErrorCode#SCHEMA_COPY_FAILED} naming every such object and the fix
     */
    public void requireCopyable(String database) {
        if (!refused.isEmpty()) {
            throw new PgMigrateException(CoreErrorCode.SCHEMA_COPY_FAILED, database, "the schema copy cannot create "
                    + refused.size() + " object(s), so nothing was changed: "
                    + String.join(" | ", refused.stream().map(Refusal::toString).toList()));
        }
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

    private static String abbreviate(List<TableRef> refs) {
        List<String> names = refs.stream().limit(5).map(TableRef::toString).toList();
        return String.join(", ", names) + (refs.size() > 5 ? ", ..." : "");
    }

    /** The first line of a statement, for messages. */
    public static String firstLine(String s) {
        int nl = s.indexOf('\n');
        return nl < 0 ? s : s.substring(0, nl) + " ...";
    }
}
