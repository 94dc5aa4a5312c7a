package io.pgmigrate.core.internal.preflight;

import io.pgmigrate.CoreErrorCode;
import io.pgmigrate.Finding;
import io.pgmigrate.LeftBehind;
import io.pgmigrate.MigrationConfig;
import io.pgmigrate.PgMigrateException;
import io.pgmigrate.SchemaDiff;
import io.pgmigrate.SchemaStrategy;
import io.pgmigrate.Severity;
import io.pgmigrate.core.internal.ObjectNames;
import io.pgmigrate.core.internal.schema.CatalogSchema;
import io.pgmigrate.core.internal.schema.SchemaComparison;
import io.pgmigrate.core.internal.schema.TableRef;
import io.pgmigrate.core.internal.sql.Connector;
import io.pgmigrate.core.internal.sql.Queries;
import io.pgmigrate.core.internal.state.Flag;
import io.pgmigrate.core.internal.state.Journal;

import java.sql.Connection;
import java.sql.SQLException;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

import static io.pgmigrate.core.internal.sql.Identifiers.quote;

/**
 * Checks of one database on both sides: that it exists (or can be created), the tables and objects logical replication
 * does not carry, extensions, encoding and collations, transactions that would hold up the start, privileges on the
 * database and its tables, what the schema strategy needs (objects the catalog copy cannot create, roles, or with NONE
 * the user's own tables on the target), and names the migration would take that are already taken.
 */
final class DatabaseChecks {

    /** Ordinary tables of the user: the same set the schema copy and the fence cover. */
    private static final String USER_RELATIONS = """
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
              AND n.nspname NOT LIKE 'pgmigrate\\_%'
              AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                              AND d.deptype = 'e')
            """;

    private final String db;
    private final Connector source;
    private final Connector target;
    private final ServerChecks.Side src;
    private final ServerChecks.Side tgt;
    private final ObjectNames names;
    private final Journal.DatabaseEntry journal;
    private final List<Finding> findings;
    private final boolean first;
    private final MigrationConfig.SchemaSettings schema;
    /** The target's maintenance database, open for the whole check: one connection instead of one per question. */
    private Connection admin;

    /** @param first whether this is the first database: server-wide checks made through it run once */
    DatabaseChecks(String db, Connector source, Connector target, ServerChecks.Side src, ServerChecks.Side tgt,
                   ObjectNames names, Journal.DatabaseEntry journal, List<Finding> findings, boolean first,
                   MigrationConfig.SchemaSettings schema) {
        this.schema = schema;
        this.db = db;
        this.source = source;
        this.target = target;
        this.src = src;
        this.tgt = tgt;
        this.names = names;
        this.journal = journal;
        this.findings = findings;
        this.first = first;
    }

    void run() {
        try (Connection s = source.connect(db); Connection a = target.connect("postgres")) {
            admin = a;
            Optional<Connection> t = targetDatabase();
            try {
                privileges(s, t.orElse(null));
                tables(s, t.orElse(null));
                objectsNotReplicated(s);
                upstreamSubscriptions(s);
                schema(s, t.orElse(null));
                extensions(s);
                collation(s);
                if (first) {
                    transactions(s);
                }
                collisions(s, t.orElse(null));
            } finally {
                if (t.isPresent()) {
                    t.get().close();
                }
            }
        } catch (PgMigrateException e) {
            String fix = e.code() == CoreErrorCode.DATABASE_MISSING ? "create the database on the source, or remove it from"
                    + " databases(...)" : "check the endpoint, the credentials and pg_hba.conf for this database";
            add(Severity.BLOCKER, "source_database", "", e.getMessage(), fix);
        } catch (SQLException e) {
            add(Severity.BLOCKER, "source_database", "", "checking the database failed: " + e.getMessage(), "");
        }
    }

    /** The target database, or empty when it does not exist yet (it will be created: can it be?). */
    private Optional<Connection> targetDatabase() throws SQLException {
        if (Queries.exists(admin, "SELECT 1 FROM pg_database WHERE datname = ?", db)) {
            return Optional.of(target.connect(db));
        }
        if (tgt.superuser() || tgt.createDb()) {
            add(Severity.INFO, "target_database", "", "the database does not exist on the target; start() creates it"
                    + " with the source's encoding and locale", "");
        } else {
            add(Severity.BLOCKER, "target_database", "", "the database does not exist on the target and the migration"
                    + " role may not create databases there", "CREATE DATABASE " + quote(db) + " on the target, or"
                    + " ALTER ROLE " + quote(tgt.role()) + " CREATEDB;");
        }
        return Optional.empty();
    }

    private void privileges(Connection s, Connection t) throws SQLException {
        if (!src.superuser()) {
            if (!Queries.exists(s, "SELECT 1 WHERE has_database_privilege(current_database(), 'CREATE')")) {
                add(Severity.BLOCKER, "source_privileges", src.role(), "creating the publication needs CREATE on the"
                        + " database", "GRANT CREATE ON DATABASE " + quote(db) + " TO " + quote(src.role()) + ";");
            }
            List<String> notOwned = Queries.list(s, "SELECT pg_catalog.format('%I.%I', n.nspname, c.relname) "
                    + USER_RELATIONS + " AND c.relkind = 'r' AND NOT pg_has_role(c.relowner, 'USAGE') ORDER BY 1 LIMIT 20",
                    rs -> rs.getString(1));
            if (!notOwned.isEmpty()) {
                add(Severity.BLOCKER, "source_privileges", src.role(), "a publication can name only tables its creator"
                        + " owns; the migration role does not own " + notOwned, "GRANT <owner role> TO "
                        + quote(src.role()) + "; or run the migration as the owner or a superuser");
            }
            List<String> noTrigger = Queries.list(s, "SELECT pg_catalog.format('%I.%I', n.nspname, c.relname) "
                    + USER_RELATIONS + " AND c.relkind IN ('r', 'p') AND NOT has_table_privilege(c.oid, 'TRIGGER')"
                    + " ORDER BY 1 LIMIT 20", rs -> rs.getString(1));
            if (!noTrigger.isEmpty()) {
                add(Severity.WARNING, "fence_privileges", src.role(), "the fence puts a trigger on every table; the"
                        + " migration role lacks TRIGGER on " + noTrigger + ", so the cutover would be abandoned",
                        "GRANT TRIGGER ON ALL TABLES IN SCHEMA <schema> TO " + quote(src.role()) + ";");
            }
        }
        if (t != null && !tgt.superuser()
                && !Queries.exists(t, "SELECT 1 WHERE has_database_privilege(current_database(), 'CREATE')")) {
            add(Severity.BLOCKER, "target_privileges", tgt.role(), "creating the schema and the subscription needs"
                    + " CREATE on the target database", "GRANT CREATE ON DATABASE " + quote(db) + " TO "
                    + quote(tgt.role()) + ";");
        }
    }

    private void tables(Connection s, Connection t) throws SQLException {
        record Unidentified(String schema, String name, String candidateIndex, String noEquality,
                            boolean fullIdentity) { }
        for (Unidentified r : Queries.list(s, """
                SELECT * FROM (
                SELECT n.nspname, c.relname,
                       (SELECT pg_catalog.format('%I', i.relname) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
                        WHERE x.indrelid = c.oid AND x.indisunique AND x.indimmediate AND x.indpred IS NULL
                          AND x.indexprs IS NULL
                          AND NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid
                                          AND a.attnum = ANY (x.indkey) AND NOT a.attnotnull)
                        ORDER BY i.relname LIMIT 1) AS candidate,
                       -- Columns whose type has no equality (json, xml, point, ...), directly, through a domain or as
                       -- an array element: with REPLICA IDENTITY FULL the subscriber cannot find their rows. A type
                       -- binary-coercible to one with equality (varchar to text) has it, as the server sees it.
                       (SELECT string_agg(pg_catalog.format('%I %s', a.attname, format_type(a.atttypid, a.atttypmod)),
                                          ', ' ORDER BY a.attnum)
                        FROM pg_attribute a
                        JOIN pg_type ty ON ty.oid = a.atttypid
                        JOIN pg_type t1 ON t1.oid = CASE WHEN ty.typtype = 'd' THEN ty.typbasetype ELSE ty.oid END
                        JOIN pg_type base ON base.oid = CASE WHEN t1.typcategory = 'A' AND t1.typelem <> 0
                                                             THEN t1.typelem ELSE t1.oid END
                        WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND base.typtype = 'b'
                          AND NOT EXISTS (SELECT 1 FROM pg_opclass oc JOIN pg_am am ON am.oid = oc.opcmethod
                                          WHERE am.amname IN ('btree', 'hash') AND oc.opcdefault
                                            AND (oc.opcintype = base.oid
                                                 OR EXISTS (SELECT 1 FROM pg_cast k WHERE k.castsource = base.oid
                                                            AND k.casttarget = oc.opcintype AND k.castmethod = 'b'
                                                            AND k.castcontext = 'i'))))
                           AS no_equality,
                       c.relreplident = 'f' AS full_identity,
                       (c.relreplident = 'n'
                        OR (c.relreplident = 'i' AND NOT EXISTS (SELECT 1 FROM pg_index i
                                                              WHERE i.indrelid = c.oid AND i.indisreplident))
                        OR (c.relreplident = 'd' AND NOT EXISTS (SELECT 1 FROM pg_index i
                                                              WHERE i.indrelid = c.oid AND i.indisprimary)))
                           AS no_identity
                """ + USER_RELATIONS + """
                  AND c.relkind = 'r' AND c.relpersistence = 'p'
                  -- inheritance hierarchies are not published (reported apart): their identity does not matter
                  AND NOT EXISTS (SELECT 1 FROM pg_inherits h WHERE NOT c.relispartition
                                  AND (h.inhrelid = c.oid OR h.inhparent = c.oid))
                ) t WHERE no_identity OR (full_identity AND no_equality IS NOT NULL)
                ORDER BY 1, 2
                """, rs -> new Unidentified(rs.getString(1), rs.getString(2), rs.getString(3), rs.getString(4),
                rs.getBoolean(5)))) {
            String table = quote(r.schema(), r.name());
            String noEquality = r.noEquality();
            String fix = (r.candidateIndex() != null
                    ? "ALTER TABLE " + table + " REPLICA IDENTITY USING INDEX " + r.candidateIndex() + "; or " : "")
                    + "ALTER TABLE " + table + " ADD PRIMARY KEY (...);"
                    + (noEquality == null ? " or ALTER TABLE " + table + " REPLICA IDENTITY FULL; (FULL logs whole"
                    + " old rows; it costs nothing for a table that only receives inserts)" : "");
            if (r.fullIdentity()) {
                add(Severity.BLOCKER, "replica_identity", r.schema() + "." + r.name(), "the table has REPLICA IDENTITY FULL,"
                        + " but its columns " + noEquality + " have no equality operator: the subscriber cannot find"
                        + " the row of an UPDATE or DELETE, and the stream stops at the first one", fix);
                continue;
            }
            // Always a blocker: whether the table was ever updated is read from statistics that a reset or a crash
            // clears, and a wrong guess makes the first UPDATE or DELETE on the production source fail.
            add(Severity.BLOCKER, "replica_identity", r.schema() + "." + r.name(), "the table has no primary key and no replica"
                    + " identity: once published, every UPDATE and DELETE on it fails on the source"
                    + (noEquality == null ? "" : "; REPLICA IDENTITY FULL would not help, because its columns "
                    + noEquality + " have no equality operator for the subscriber to find rows by"), fix);
        }
        if (t != null && !journal.flag(Flag.SUBSCRIPTION)) {
            for (String table : Queries.list(s, "SELECT pg_catalog.format('%I.%I', n.nspname, c.relname) "
                    + USER_RELATIONS + " AND c.relkind IN ('r', 'p') AND c.relpersistence = 'p'"
                    + " AND NOT c.relispartition ORDER BY 1", rs -> rs.getString(1))) {
                if (Queries.exists(t, "SELECT 1 FROM pg_class WHERE oid = to_regclass(?) AND relkind IN ('r', 'p')",
                        table)
                        && Queries.exists(t, "SELECT 1 FROM " + table + " LIMIT 1")) {
                    add(Severity.BLOCKER, "target_rows", table, "the table already holds rows on the target; the"
                            + " initial copy would duplicate them", "TRUNCATE " + table + " on the target, or leave"
                            + " this database out of the migration");
                }
            }
        }
    }

    /**
     * Subscriptions of the source database's own (other than this migration's reverse stream): their apply workers
     * write in replica mode, where the fence's triggers do not fire, and they are not migrated, so after the cutover
     * their changes keep landing on the old side while the new side never receives them.
     */
    private void upstreamSubscriptions(Connection s) throws SQLException {
        for (String sub : Queries.list(s, """
                SELECT pg_catalog.format('%I', subname) FROM pg_subscription
                WHERE subdbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND subname <> ?
                ORDER BY 1
                """, rs -> rs.getString(1), names.reverseSubscription(db))) {
            add(Severity.WARNING, "upstream_subscription", sub, "the source database subscribes to another server;"
                    + " its changes pass the fence (apply workers run in replica mode) and the subscription is not"
                    + " migrated, so after the cutover they keep arriving on the old side and never on the new one",
                    "before the cutover, create the subscription on the target (copy_data = false, from the position"
                    + " the source reached) and, inside the cutover, ALTER SUBSCRIPTION " + sub + " DISABLE on the"
                    + " source");
        }
    }

    private void objectsNotReplicated(Connection s) throws SQLException {
        record Relation(String kind, String persistence, boolean partition, String name) { }
        for (Relation r : Queries.list(s, "SELECT c.relkind::text, c.relpersistence::text, c.relispartition,"
                + " pg_catalog.format('%I.%I', n.nspname, c.relname) " + USER_RELATIONS
                + " AND (c.relkind IN ('p', 'f', 'm') OR (c.relkind = 'r' AND c.relpersistence <> 'p')"
                + "      OR (c.relkind = 'r' AND c.relispartition)"
                + "      OR (c.relkind = 'r' AND EXISTS (SELECT 1 FROM pg_inherits h"
                + "                                      WHERE h.inhrelid = c.oid OR h.inhparent = c.oid)))"
                + " ORDER BY 4", rs -> new Relation(rs.getString(1), rs.getString(2), rs.getBoolean(3),
                rs.getString(4)))) {
            String kind = r.kind();
            String persistence = r.persistence();
            String name = r.name();
            if (kind.equals("p")) {
                if (src.major() < 13 && !r.partition()) {
                    add(Severity.BLOCKER, "partitioned_table", name, "partitioned tables replicate through their root"
                            + " (publish_via_partition_root), which PostgreSQL " + src.major() + " lacks: their rows"
                            + " would stay behind, and the cutover refuses a table the stream does not carry",
                            "upgrade the source to 13 or later first (pg_upgrade in place), or leave this database"
                            + " out of the migration");
                }
            } else if (kind.equals("f")) {
                add(Severity.WARNING, "foreign_table", name, "foreign tables are not replicated; the data lives"
                        + " elsewhere", "recreate the foreign server, user mapping and table on the target");
            } else if (kind.equals("m")) {
                add(Severity.INFO, "materialized_view", name, "materialized views are not replicated: the target's"
                        + " is created empty, and the cutover refreshes it there before the fence (unless"
                        + " refreshMaterializedViews(false))", "");
            } else if (persistence.equals("u")) {
                add(Severity.WARNING, "unlogged_table", name, "unlogged tables are not replicated; their rows stay"
                        + " behind, and the cutover refuses while it holds rows", "ALTER TABLE " + name + " SET LOGGED;"
                        + " before start(), or copy it yourself and acceptLeftBehind(LeftBehind.UNLOGGED_TABLES)");
            } else if (persistence.equals("t")) {
                add(Severity.INFO, "temporary_table", name, "temporary tables belong to one session and are never"
                        + " migrated", "");
            } else if (r.partition()) {
                // a partition: reported with its partitioned table
                continue;
            } else {
                add(Severity.WARNING, "inheritance", name, "tables in an inheritance hierarchy (parents and children)"
                        + " are not migrated by this version; their rows stay behind, and the cutover refuses while"
                        + " they hold rows", "convert to declarative partitioning, or move the data separately and"
                        + " acceptLeftBehind(LeftBehind.INHERITED_TABLES)");
            }
        }
        long generated = Long.parseLong(Queries.string(s, "SELECT count(DISTINCT a.attrelid) FROM pg_attribute a"
                + " JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace"
                + " WHERE a.attgenerated <> '' AND NOT a.attisdropped AND n.nspname NOT LIKE 'pg\\_%'"));
        if (generated > 0) {
            add(Severity.INFO, "generated_columns", "", generated + " table(s) have generated columns: the target"
                    + " computes them itself; they are not replicated", "");
        }
        long largeObjects = Long.parseLong(Queries.string(s, "SELECT count(*) FROM pg_largeobject_metadata"));
        if (largeObjects > 0) {
            add(Severity.INFO, "large_objects", "", largeObjects + " large objects exist; logical replication does"
                    + " not carry them, so the cutover copies them itself: before the fence, then inside it those"
                    + " changed since (that pass reads every large object again on both sides, so the window grows"
                    + " with their total size)",
                    "the migration's role needs SELECT on every large object (a superuser also holds their writes"
                    + " during the window); acceptLeftBehind(LeftBehind.LARGE_OBJECTS) leaves them behind instead");
        }
        for (String table : LeftBehindCheck.find(s, Set.of(LeftBehind.EXTENSION_CONFIGURATION))
                .getOrDefault(LeftBehind.EXTENSION_CONFIGURATION, List.of())) {
            add(Severity.WARNING, "extension_configuration", table, "an extension keeps user configuration in this"
                    + " table; extension tables are not replicated, so its user rows stay behind, and the cutover"
                    + " refuses while they exist", "copy them with pg_dump --data-only --table " + table + " and"
                    + " acceptLeftBehind(LeftBehind.EXTENSION_CONFIGURATION)");
        }
        long sequences = Long.parseLong(Queries.string(s, "SELECT count(*) FROM pg_sequences"
                + " WHERE schemaname NOT LIKE 'pgmigrate\\_%'"));
        if (sequences > 0) {
            add(Severity.INFO, "sequences", "", sequences + " sequences: logical replication does not carry them;"
                    + " cutover() copies their positions while the source is fenced", "");
        }
    }

    /** What the schema strategy needs: objects the copy cannot create, roles it names, or the user's own schema. */
    private void schema(Connection s, Connection t) throws SQLException {
        // The tables the stream would carry, and their columns on the target (one catalog read, one query per side).
        // The read orders the whole schema as the copy would, so whatever the copy cannot create is known now.
        CatalogSchema catalog = CatalogSchema.read(s, schema.ownershipAndGrants(), CatalogSchema.keywords(admin));
        List<TableRef> tables = t == null ? List.of() : catalog.tables();
        Map<TableRef, List<ColumnInfo>> onTarget = t == null ? Map.of() : columns(t, tables);
        schemaDifferences(s, t, tables, onTarget);
        if (schema.strategy() == SchemaStrategy.NONE) {
            userSchema(s, t, tables, onTarget);
            return;
        }
        if (schema.strategy() == SchemaStrategy.CATALOG) {
            for (CatalogSchema.Refusal r : catalog.refused()) {
                add(Severity.BLOCKER, "schema_copy", r.object(), r.reason(), r.fix());
            }
            // Tables left out are reported by the table checks; the rest here, so nothing is skipped silently.
            for (String n : catalog.notCopied()) {
                if (!n.startsWith("table ")) {
                    int colon = n.indexOf(": ");
                    add(Severity.WARNING, "not_copied", n.substring(0, colon), n.substring(colon + 2), "");
                }
            }
        }
        // Policies, owners and grants name roles, and roles are not copied: a missing one makes the copy fail.
        java.util.Set<String> roles = new java.util.TreeSet<>(Queries.list(s, "SELECT DISTINCT r FROM pg_policies p,"
                + " unnest(p.roles) r WHERE r <> 'public' ORDER BY 1", rs -> rs.getString(1)));
        if (schema.ownershipAndGrants()) {
            roles.addAll(CatalogSchema.rolesOfOwnersAndGrants(s));
        }
        List<String> missing = roles.isEmpty() ? List.of() : Queries.list(admin, """
                SELECT r FROM unnest(?::text[]) r WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r)
                ORDER BY 1
                """, rs -> rs.getString(1), admin.createArrayOf("text", roles.toArray()));
        if (!missing.isEmpty()) {
            add(Severity.BLOCKER, "missing_roles", String.join(", ", missing), (schema.ownershipAndGrants()
                    ? "owners, grants and row-level security policies name" : "row-level security policies name")
                    + " roles that do not exist on the target; creating the schema would fail", "CREATE ROLE ... on"
                    + " the target for each of them (roles are server-wide and not copied)");
        }
    }

    /**
     * A target that already has every table keeps its schema (the copy is skipped): how it differs from the source's
     * is worth knowing before start(). A warning when pgmigrate would have created the schema, information with NONE,
     * where differences are the user's choice.
     */
    private void schemaDifferences(Connection s, Connection t, List<TableRef> tables,
                                   Map<TableRef, List<ColumnInfo>> onTarget) throws SQLException {
        if (t == null || journal.flag(Flag.SUBSCRIPTION) || tables.isEmpty() || onTarget.size() < tables.size()) {
            return;
        }
        SchemaDiff diff = SchemaComparison.compare(s, t);
        if (diff.isEmpty()) {
            return;
        }
        List<String> first = diff.differences().stream().limit(5)
                .map(d -> d.kind() + " " + d.objectType() + " " + d.name()).toList();
        add(schema.strategy() == SchemaStrategy.NONE ? Severity.INFO : Severity.WARNING, "schema_diff", "",
                "the target already has every table, so its schema is used as it is, and it differs from the source's"
                        + " in " + diff.differences().size() + " object(s): " + String.join("; ", first)
                        + (diff.differences().size() > 5 ? "; ..." : ""),
                "Migration.schemaDiff(\"" + db + "\").toText() shows both definitions; align the target, or drop its"
                        + " tables to have the schema copied");
    }

    /**
     * SchemaStrategy NONE: every table the stream would carry must exist on the target with every replicated column,
     * no column the target generates itself, and no extra NOT NULL column without a default.
     */
    private void userSchema(Connection s, Connection t, List<TableRef> tables,
                            Map<TableRef, List<ColumnInfo>> onTarget) throws SQLException {
        String fix = "create it with your schema tool before start(), or use SchemaStrategy.CATALOG";
        if (t == null) {
            add(Severity.BLOCKER, "target_schema", "", "schema strategy NONE leaves the schema to you, but the target"
                    + " has no database " + db, "CREATE DATABASE " + quote(db) + " and its schema on the target");
            return;
        }
        Map<TableRef, List<ColumnInfo>> onSource = columns(s, tables);
        for (TableRef table : tables) {
            Map<String, ColumnInfo> source = new LinkedHashMap<>();
            for (ColumnInfo c : onSource.getOrDefault(table, List.of())) {
                source.put(c.name(), c);
            }
            List<ColumnInfo> target = onTarget.get(table);
            String name = display(table.schema()) + "." + display(table.name());
            if (target == null) {
                add(Severity.BLOCKER, "target_schema", name, "the table does not exist on the target; schema strategy"
                        + " NONE leaves the schema to you", fix);
                continue;
            }
            Map<String, ColumnInfo> byName = new LinkedHashMap<>();
            target.forEach(c -> byName.put(c.name(), c));
            for (ColumnInfo c : source.values()) {
                ColumnInfo other = byName.get(c.name());
                String column = name + "." + display(c.name());
                if (c.generated()) {
                    // Generated on the source: not replicated. Fine when the target computes its own or has none;
                    // a plain column there would silently stay NULL in every row (review F21).
                    if (other != null && !other.generated()) {
                        add(Severity.BLOCKER, "target_schema", column, "the column is generated on the source, so"
                                + " the stream does not send it, but plain on the target, where it would be NULL in"
                                + " every row", "make it GENERATED ALWAYS AS (...) STORED on the target with the"
                                + " source's expression, or drop it there");
                    }
                    continue;
                }
                if (other == null) {
                    add(Severity.BLOCKER, "target_schema", column, "the column does not exist on the target; every"
                            + " replicated row would fail", "ALTER TABLE " + table.quoted() + " ADD COLUMN " + quote(c.name())
                            + " " + c.type() + " on the target");
                } else if (other.generated()) {
                    add(Severity.BLOCKER, "target_schema", column, "the target generates the column itself, but the"
                            + " source sends values for it; replicated rows would fail", "make it a plain column on"
                            + " the target");
                } else if (!c.type().equals(other.type())) {
                    add(Severity.WARNING, "target_schema", column, "the column is " + c.type() + " on the source but "
                            + other.type() + " on the target; values are converted through their text form, and one that"
                            + " does not fit stops the stream", "ALTER TABLE " + table.quoted() + " ALTER COLUMN "
                            + quote(c.name()) + " TYPE " + c.type() + " on the target, unless the change is intended");
                }
            }
            for (ColumnInfo c : target) {
                if (!source.containsKey(c.name()) && c.requiredNoDefault()) {
                    add(Severity.BLOCKER, "target_schema", name + "." + display(c.name()), "the target has this"
                            + " NOT NULL column without a default, which the source does not have; every replicated"
                            + " insert would fail", "give it a default on the target, or drop NOT NULL");
                }
            }
        }
    }

    /**
     * A column as the schema checks see it.
     *
     * @param name           its name
     * @param type           its type, as format_type prints it
     * @param generated      whether the server computes it
     * @param requiredNoDefault NOT NULL without a default (nor identity)
     */
    private record ColumnInfo(String name, String type, boolean generated, boolean requiredNoDefault) { }

    /** An identifier as format('%I') prints it: bare when it is a plain lower-case name, else quoted. */
    private static String display(String identifier) {
        return identifier.matches("[a-z_][a-z0-9_$]*") ? identifier : quote(identifier);
    }

    /**
     * The columns of those of {@code tables} that exist on {@code c}, in attribute order: name, type, generated,
     * NOT NULL without a default. A table that does not exist has no key.
     */
    private static Map<TableRef, List<ColumnInfo>> columns(Connection c, List<TableRef> tables) throws SQLException {
        Map<TableRef, List<ColumnInfo>> out = new LinkedHashMap<>();
        if (tables.isEmpty()) {
            return out;
        }
        record Row(TableRef table, ColumnInfo column) { }
        for (Row r : Queries.list(c, """
                SELECT n.nspname, cl.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attgenerated <> '',
                       a.attnotnull AND NOT a.atthasdef AND a.attidentity = ''
                FROM unnest(?::text[], ?::text[]) AS want(nsp, rel)
                JOIN pg_namespace n ON n.nspname = want.nsp
                JOIN pg_class cl ON cl.relnamespace = n.oid AND cl.relname = want.rel AND cl.relkind IN ('r', 'p')
                LEFT JOIN pg_attribute a ON a.attrelid = cl.oid AND a.attnum > 0 AND NOT a.attisdropped
                ORDER BY n.nspname, cl.relname, a.attnum
                """, rs -> new Row(new TableRef(rs.getString(1), rs.getString(2)), rs.getString(3) == null ? null
                        : new ColumnInfo(rs.getString(3), rs.getString(4), rs.getBoolean(5), rs.getBoolean(6))),
                c.createArrayOf("text", tables.stream().map(TableRef::schema).toArray()),
                c.createArrayOf("text", tables.stream().map(TableRef::name).toArray()))) {
            List<ColumnInfo> cols = out.computeIfAbsent(r.table(), k -> new java.util.ArrayList<>());
            if (r.column() != null) {
                cols.add(r.column());
            }
        }
        return out;
    }

    private void extensions(Connection s) throws SQLException {
        record Extension(String name, String version) { }
        List<Extension> used = Queries.list(s, "SELECT extname, extversion FROM pg_extension WHERE extname <> 'plpgsql'"
                + " ORDER BY 1", rs -> new Extension(rs.getString(1), rs.getString(2)));
        if (used.isEmpty()) {
            return;
        }
        List<String> names = used.stream().map(Extension::name).toList();
        List<String> unavailable = Queries.list(admin, """
                SELECT x FROM unnest(?::text[]) x
                WHERE NOT EXISTS (SELECT 1 FROM pg_available_extensions a WHERE a.name = x)
                """, rs -> rs.getString(1), admin.createArrayOf("text", names.toArray()));
        for (Extension e : used) {
            if (unavailable.contains(e.name())) {
                add(Severity.BLOCKER, "extension", e.name(), "the source uses extension " + e.name() + " "
                        + e.version() + ", which is not installable on the target", "install the extension's package on"
                        + " the target server (it must appear in pg_available_extensions)");
            }
        }
    }

    private void collation(Connection s) throws SQLException {
        String provider = src.major() >= 15 ? "datlocprovider::text" : "'c'";
        String version = src.major() >= 15 ? "datcollversion" : "NULL::text";
        record Locale(String encoding, String collate, String provider, String version) { }
        Locale source = Queries.first(s, "SELECT pg_encoding_to_char(encoding), datcollate, " + provider + ", "
                + version + " FROM pg_database WHERE datname = current_database()", rs -> new Locale(
                rs.getString(1), rs.getString(2), rs.getString(3), rs.getString(4))).orElseThrow();
        if (!"c".equals(source.provider())) {
            add(Severity.WARNING, "collation", "", "the source database uses the " + ("i".equals(source.provider()) ? "ICU"
                    : "builtin") + " locale provider; the target database is created with a libc locale, so text"
                    + " may sort differently", "create the database on the target yourself with the same provider"
                    + " before start()");
        }
        String tProvider = tgt.major() >= 15 ? "datlocprovider::text" : "'c'";
        String tVersion = tgt.major() >= 15 ? "datcollversion" : "NULL::text";
        Optional<Locale> target = Queries.first(admin, "SELECT pg_encoding_to_char(encoding), datcollate, "
                + tProvider + ", " + tVersion + " FROM pg_database WHERE datname = coalesce((SELECT datname"
                + " FROM pg_database WHERE datname = ?), 'template0')", rs -> new Locale(rs.getString(1),
                rs.getString(2), rs.getString(3), rs.getString(4)), db);
        if (target.isEmpty()) {
            return;
        }
        Locale tg = target.get();
        if (!source.encoding().equals(tg.encoding())
                && Queries.exists(admin, "SELECT 1 FROM pg_database WHERE datname = ?", db)) {
            add(Severity.BLOCKER, "encoding", "", "the source database is encoded " + source.encoding() + " and the"
                    + " existing target database " + tg.encoding(), "drop and recreate the target database with"
                    + " ENCODING " + source.encoding() + ", or let start() create it");
        }
        if (source.version() != null && tg.version() != null && !source.version().equals(tg.version())) {
            add(Severity.WARNING, "collation_version", "", "the collation library differs (" + source.version()
                    + " on the source, " + tg.version() + " on the target): indexes on text columns may need a"
                    + " rebuild", "REINDEX (CONCURRENTLY) the indexes on text columns on the target after the"
                    + " initial copy");
        } else if (!String.valueOf(source.collate()).equals(String.valueOf(tg.collate()))) {
            add(Severity.WARNING, "collation", "", "the source sorts text as " + source.collate() + ", the target's"
                    + " default is " + tg.collate() + "; if the target database is created with the target's"
                    + " default, ORDER BY results and text indexes differ", "create the target database with"
                    + " LC_COLLATE " + source.collate() + " (start() tries that first)");
        }
    }

    private void transactions(Connection s) throws SQLException {
        // Creating a logical slot waits for every transaction running at that moment, in any database.
        List<String> old = Queries.list(s, """
                SELECT pid || ' (' || coalesce(usename, '?') || ' in ' || coalesce(datname, '?') || ', '
                       || (now() - xact_start)::text || ')'
                FROM pg_stat_activity
                WHERE xact_start < now() - interval '1 minute' AND pid <> pg_backend_pid()
                  AND (backend_xid IS NOT NULL OR backend_xmin IS NOT NULL)
                ORDER BY xact_start LIMIT 10
                """, rs -> rs.getString(1));
        if (!old.isEmpty()) {
            addServerWide(Severity.WARNING, "long_transactions", "transactions running for over a minute on the source"
                    + " (" + String.join(", ", old) + ") hold up creating the replication slot until they end",
                    "let them finish or end them (pg_terminate_backend) before start()");
        }
        List<String> prepared = Queries.list(s, "SELECT gid || ' (' || database || ')' FROM pg_prepared_xacts"
                + " ORDER BY prepared LIMIT 10", rs -> rs.getString(1));
        if (!prepared.isEmpty()) {
            addServerWide(Severity.WARNING, "prepared_transactions", "prepared transactions " + prepared + " hold up"
                    + " creating the replication slot, and would make a cutover refuse to fence",
                    "COMMIT PREPARED or ROLLBACK PREPARED them");
        }
    }

    private void collisions(Connection s, Connection t) throws SQLException {
        // pgmigrate's schemas hold functions only; a user's tables in a schema of that prefix would be published but
        // left out by the fence and the pre-check, which skip the prefix (review F14).
        for (String schema : Queries.list(s, """
                SELECT DISTINCT pg_catalog.format('%I', n.nspname) FROM pg_namespace n
                JOIN pg_class c ON c.relnamespace = n.oid
                WHERE n.nspname LIKE 'pgmigrate\\_%' AND c.relkind IN ('r', 'p')
                  AND n.nspname <> ? -- this migration's DDL capture: its collision is checked below
                ORDER BY 1
                """, rs -> rs.getString(1), names.ddl(db))) {
            add(Severity.BLOCKER, "reserved_schema", schema, "the schema holds tables, but schemas named pgmigrate_*"
                    + " are pgmigrate's own: the fence and the cutover's checks leave them out, so writes to these"
                    + " tables would still be accepted on the old side after the fence and stay behind",
                    "ALTER SCHEMA " + schema + " RENAME TO <another name>;");
        }
        collision(s, !journal.flag(Flag.PUBLICATION), "SELECT 1 FROM pg_publication WHERE pubname = ?",
                names.publication(db), "source", "publication", "DROP PUBLICATION " + quote(names.publication(db)));
        collision(s, !journal.flag(Flag.SUBSCRIPTION), "SELECT 1 FROM pg_replication_slots WHERE slot_name = ?",
                names.slot(db), "source", "replication slot", "SELECT pg_drop_replication_slot("
                        + io.pgmigrate.core.internal.sql.Identifiers.literal(names.slot(db)) + ")");
        collision(s, !journal.flag(Flag.REVERSE_SUBSCRIPTION), "SELECT 1 FROM pg_subscription WHERE subname = ?"
                        + " AND subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())",
                names.reverseSubscription(db), "source", "subscription",
                "DROP SUBSCRIPTION " + quote(names.reverseSubscription(db)));
        collision(s, !journal.flag(Flag.SOURCE_FENCE), "SELECT 1 FROM pg_namespace WHERE nspname = ?", names.fence(db),
                "source", "schema", "DROP SCHEMA " + quote(names.fence(db)) + " CASCADE");
        collision(s, !journal.flag(Flag.SOURCE_DDL), "SELECT 1 FROM pg_namespace WHERE nspname = ?", names.ddl(db),
                "source", "schema", "DROP SCHEMA " + quote(names.ddl(db)) + " CASCADE");
        collision(admin, !journal.flag(Flag.REVERSE_SUBSCRIPTION), "SELECT 1 FROM pg_replication_slots"
                + " WHERE slot_name = ?", names.reverseSlot(db), "target", "replication slot",
                "SELECT pg_drop_replication_slot(" + io.pgmigrate.core.internal.sql.Identifiers.literal(names.reverseSlot(db))
                        + ")");
        if (t != null) {
            collision(t, !journal.flag(Flag.TARGET_DDL), "SELECT 1 FROM pg_namespace WHERE nspname = ?", names.ddl(db),
                    "target", "schema", "DROP SCHEMA " + quote(names.ddl(db)) + " CASCADE");
            collision(t, !journal.flag(Flag.SUBSCRIPTION), "SELECT 1 FROM pg_subscription WHERE subname = ?"
                            + " AND subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())",
                    names.subscription(db), "target", "subscription", "DROP SUBSCRIPTION "
                            + quote(names.subscription(db)));
            collision(t, !journal.flag(Flag.REVERSE_PUBLICATION), "SELECT 1 FROM pg_publication WHERE pubname = ?",
                    names.reversePublication(db), "target", "publication", "DROP PUBLICATION "
                            + quote(names.reversePublication(db)));
            collision(t, !journal.flag(Flag.TARGET_FENCE), "SELECT 1 FROM pg_namespace WHERE nspname = ?",
                    names.fence(db), "target", "schema", "DROP SCHEMA " + quote(names.fence(db)) + " CASCADE");
        }
    }

    private void collision(Connection c, boolean notOurs, String sql, String name, String side, String kind,
                           String fix) throws SQLException {
        if (notOurs && Queries.exists(c, sql, name)) {
            add(Severity.BLOCKER, "name_collision", name, "a " + kind + " named " + name + " already exists on the "
                    + side + " and was not created by this migration", "give the migration another name(...), or if"
                    + " it is a leftover of an earlier run: " + fix + " on the " + side);
        }
    }

    private void add(Severity severity, String check, String object, String message, String fix) {
        findings.add(new Finding(severity, check, db, object, message, fix));
    }

    private void addServerWide(Severity severity, String check, String message, String fix) {
        findings.add(new Finding(severity, check, "", "", message, fix));
    }
}
