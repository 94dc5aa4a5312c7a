package io.pgmigrate.core.internal.schema;

import io.pgmigrate.core.internal.schema.CatalogObject.Ref;
import io.pgmigrate.core.internal.schema.CatalogObject.Stage;
import io.pgmigrate.core.internal.sql.Queries;

import java.sql.Connection;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static io.pgmigrate.core.internal.sql.Identifiers.literal;
import static io.pgmigrate.core.internal.sql.Identifiers.quote;

/**
 * Reads the schema of one source database as {@link CatalogObject}s, one small step per kind of object, each with its
 * query and its mapping. The statements are printed by PostgreSQL's own {@code format_type} and {@code pg_get_*def}
 * functions (the session has {@code search_path = pg_catalog}, so they qualify every user object), with names quoted
 * here. {@link DependencyOrder} puts them in order.
 *
 * <p>Objects that belong to the system or to an extension are never read: an extension is created as a whole.
 */
final class CatalogReader {

    /** Objects of these schemas are never copied: the system's, and the migration's own fences. */
    // Plain strings with surrounding spaces: text blocks strip the trailing space they are concatenated after.
    static final String USER_NAMESPACE = " n.nspname NOT IN ('pg_catalog', 'information_schema')"
            + " AND n.nspname NOT LIKE 'pg\\_%' AND n.nspname NOT LIKE 'pgmigrate\\_%' ";

    /**
     * Not a member of an extension (created with it) nor an internal part of another object (created with it: a
     * multirange's type, constructors and casts come with its range type).
     */
    private static String notExtensionMember(String catalog, String oid) {
        return " NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = '" + catalog + "'::regclass AND e.objid = "
                + oid + " AND e.objsubid = 0 AND (e.deptype = 'e' OR (e.deptype = 'i' AND e.refobjid <> " + oid
                + "))) ";
    }

    /** A row of most steps: the object's oid, its qualified name and the statement that creates it. */
    private record Row(long oid, String name, String ddl) { }

    /** A row of an object that belongs to a table (or view): created only when the copy creates the table. */
    private record OnTable(long oid, long table, String name, String ddl) { }

    private List<OnTable> onTables(String sql) throws SQLException {
        return Queries.list(c, sql, rs -> new OnTable(rs.getLong(1), rs.getLong(2), rs.getString(3),
                rs.getString(4)));
    }

    /** The settings whose values are lists of names, each quoted on its own (pg_dump's list). */
    private static final Set<String> LIST_SETTINGS = Set.of("local_preload_libraries", "search_path",
            "session_preload_libraries", "shared_preload_libraries", "temp_tablespaces", "unix_socket_directories");

    private final Connection c;
    private final int major;
    private final boolean ownershipAndGrants;
    /** Words that must be quoted as identifiers on the target (its keywords other than unreserved ones). */
    private final Set<String> targetKeywords;

    final List<CatalogObject> objects = new ArrayList<>();
    /** The refs of {@link #objects}, for {@link #has}. */
    private final Set<Ref> refs = new java.util.HashSet<>();
    /** Tables the stream carries, by oid. */
    final Map<Long, TableRef> replicated = new LinkedHashMap<>();
    /** Every table created, by oid. */
    final Map<Long, TableRef> created = new LinkedHashMap<>();
    /** Objects left out, each with the reason; they do not stop a copy. */
    final List<String> notCopied = new ArrayList<>();
    /** Objects that cannot be created on the target: a copy would fail or lose them. */
    final List<CatalogSchema.Refusal> refused = new ArrayList<>();
    /** Parts of objects pg_depend does not map to them. */
    final Map<Ref, Ref> partOf = new HashMap<>();
    /** A shell for every view, for breaking a cycle through it. */
    final Map<Ref, String> viewShells = new HashMap<>();

    CatalogReader(Connection c, boolean ownershipAndGrants, Set<String> targetKeywords) throws SQLException {
        this.c = c;
        this.major = c.getMetaData().getDatabaseMajorVersion();
        this.ownershipAndGrants = ownershipAndGrants;
        this.targetKeywords = targetKeywords;
    }

    /** The words that need quotes on the server {@code c} is connected to. */
    static Set<String> keywords(Connection c) throws SQLException {
        return Set.copyOf(Queries.list(c, "SELECT word FROM pg_get_keywords() WHERE catcode <> 'U'",
                rs -> rs.getString(1)));
    }

    /** Runs every step. */
    void readAll() throws SQLException {
        schemas();
        extensions();
        collations();
        enumsAndRanges();
        baseTypes();
        functions();
        domains();
        composites();
        aggregates();
        operators();
        operatorFamiliesAndClasses();
        casts();
        conversions();
        textSearch();
        sequences();
        tables();
        partitionColumns();
        columnDefaults();
        constraints();
        sequenceOwners();
        views();
        indexes();
        foreignKeys();
        statistics();
        triggers();
        eventTriggers();
        rules();
        rowLevelSecurity();
        replicaIdentity();
        comments();
        securityLabels();
        databaseSettings();
        if (ownershipAndGrants) {
            ownersAndGrants();
            defaultPrivileges();
        }
    }

    /**
     * The objects {@link SchemaSnapshot} compares by the statement that creates them, for the kinds whose catalog
     * rows have no {@code pg_get_*def}: collations, aggregates, operators, operator classes and families, casts,
     * conversions, text search dictionaries and configurations, statistics objects, database settings, security
     * labels, and each table's column options.
     *
     * @return kind, name and the statements, per object
     */
    List<CatalogObject> readForComparison() throws SQLException {
        collations();
        aggregates();
        operators();
        operatorFamiliesAndClasses();
        casts();
        conversions();
        textSearch();
        statistics();
        securityLabels();
        databaseSettings();
        List<CatalogObject> out = new ArrayList<>(objects);
        Map<Long, List<String>> options = columnOptions();
        if (!options.isEmpty()) {
            Map<Long, String> names = new HashMap<>();
            for (Row r : rows("SELECT c.oid, format('%I.%I', n.nspname, c.relname), NULL FROM pg_class c"
                    + " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = ANY (?::oid[])",
                    c.createArrayOf("oid", options.keySet().toArray()))) {
                names.put(r.oid(), r.name());
            }
            options.forEach((oid, ddl) -> out.add(new CatalogObject(new Ref("pg_class", oid), "column options",
                    names.get(oid), Stage.BEFORE_DATA, ddl, Set.of())));
        }
        return out;
    }

    private void add(CatalogObject o) {
        objects.add(o);
        refs.add(o.ref());
    }

    private void add(String catalog, long oid, String kind, String name, Stage stage, String ddl) {
        add(new CatalogObject(new Ref(catalog, oid), kind, name, stage, ddl));
    }

    /** An object of several statements, which its query joined with {@code "; "}. */
    private void addStatements(String catalog, long oid, String kind, String name, Stage stage, String joined) {
        add(new CatalogObject(new Ref(catalog, oid), kind, name, stage, List.of(joined.split("; ")),
                Set.of()));
    }

    /** Whether the copy creates the object {@code ref}. */
    private boolean has(Ref ref) {
        return refs.contains(ref);
    }

    private List<Row> rows(String sql, Object... params) throws SQLException {
        return Queries.list(c, sql, rs -> new Row(rs.getLong(1), rs.getString(2), rs.getString(3)), params);
    }

    // ---- steps, in the order a dependency-free schema would be created ----

    private void schemas() throws SQLException {
        for (Row r : rows("""
                SELECT n.oid, n.nspname, NULL FROM pg_namespace n
                WHERE""" + USER_NAMESPACE + " AND n.nspname <> 'public' AND "
                + notExtensionMember("pg_namespace", "n.oid") + " ORDER BY n.nspname")) {
            add("pg_namespace", r.oid(), "schema", quote(r.name()), Stage.BEFORE_DATA,
                    "CREATE SCHEMA IF NOT EXISTS " + quote(r.name()));
        }
    }

    private void extensions() throws SQLException {
        record Extension(long oid, String name, String schema) { }
        for (Extension x : Queries.list(c, """
                SELECT x.oid, x.extname, n.nspname FROM pg_extension x JOIN pg_namespace n ON n.oid = x.extnamespace
                WHERE x.extname <> 'plpgsql' ORDER BY x.extname
                """, rs -> new Extension(rs.getLong(1), rs.getString(2), rs.getString(3)))) {
            add("pg_extension", x.oid(), "extension", quote(x.name()), Stage.BEFORE_DATA,
                    "CREATE EXTENSION IF NOT EXISTS " + quote(x.name()) + " WITH SCHEMA " + quote(x.schema()));
        }
    }

    private void collations() throws SQLException {
        // Where the locale of an ICU (or, from 17, builtin) collation is kept moved between majors.
        String locale = major >= 17 ? "co.colllocale" : major >= 15 ? "co.colliculocale" : "co.collcollate";
        String rules = major >= 16 ? "co.collicurules" : "NULL::text";
        record Collation(long oid, String schema, String name, String provider, String collate, String ctype,
                         String locale, boolean deterministic, String rules) { }
        for (Collation co : Queries.list(c, """
                SELECT co.oid, n.nspname, co.collname, co.collprovider::text, co.collcollate, co.collctype,
                       """ + locale + ", co.collisdeterministic, " + rules + """

                FROM pg_collation co JOIN pg_namespace n ON n.oid = co.collnamespace
                WHERE co.oid >= 16384 AND""" + USER_NAMESPACE + " AND "
                + notExtensionMember("pg_collation", "co.oid") + " ORDER BY n.nspname, co.collname",
                rs -> new Collation(rs.getLong(1), rs.getString(2), rs.getString(3), rs.getString(4),
                        rs.getString(5), rs.getString(6), rs.getString(7), rs.getBoolean(8), rs.getString(9)))) {
            String name = quote(co.schema(), co.name());
            String options = switch (co.provider()) {
                case "i" -> "provider = icu, locale = " + literal(co.locale())
                        + (co.rules() == null ? "" : ", rules = " + literal(co.rules()));
                case "b" -> "provider = builtin, locale = " + literal(co.locale());
                default -> "provider = libc, lc_collate = " + literal(co.collate()) + ", lc_ctype = "
                        + literal(co.ctype());
            };
            add("pg_collation", co.oid(), "collation", name, Stage.BEFORE_DATA, "CREATE COLLATION " + name + " ("
                    + options + ", deterministic = " + co.deterministic() + ")");
        }
    }

    private static final String USER_TYPE = """
            FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
            WHERE""" + USER_NAMESPACE + " AND " + notExtensionMember("pg_type", "t.oid");

    private void enumsAndRanges() throws SQLException {
        for (Row r : rows("""
                SELECT t.oid, format('%I.%I', n.nspname, t.typname),
                       format('CREATE TYPE %I.%I AS ENUM (%s)', n.nspname, t.typname,
                              (SELECT string_agg(quote_literal(e.enumlabel), ', ' ORDER BY e.enumsortorder)
                               FROM pg_enum e WHERE e.enumtypid = t.oid))
                """ + USER_TYPE + " AND t.typtype = 'e' ORDER BY n.nspname, t.typname")) {
            add("pg_type", r.oid(), "type", r.name(), Stage.BEFORE_DATA, r.ddl());
        }
        String multirange = major >= 14 ? """
                || coalesce((SELECT format(', MULTIRANGE_TYPE_NAME = %I.%I', mn.nspname, mt.typname)
                             FROM pg_type mt JOIN pg_namespace mn ON mn.oid = mt.typnamespace
                             WHERE mt.oid = r.rngmultitypid), '')""" : "";
        for (Row r : rows("""
                SELECT t.oid, format('%I.%I', n.nspname, t.typname),
                       format('CREATE TYPE %I.%I AS RANGE (SUBTYPE = %s', n.nspname, t.typname,
                              format_type(r.rngsubtype, NULL))
                       || format(', SUBTYPE_OPCLASS = %I.%I', ocn.nspname, oc.opcname)
                       || CASE WHEN r.rngcollation <> 0 AND r.rngcollation <> st.typcollation
                               THEN format(', COLLATION = %I.%I', cn.nspname, co.collname) ELSE '' END
                       || CASE WHEN r.rngcanonical <> 0
                               THEN (SELECT format(', CANONICAL = %I.%I', pn.nspname, p.proname)
                                     FROM pg_proc p JOIN pg_namespace pn ON pn.oid = p.pronamespace
                                     WHERE p.oid = r.rngcanonical) ELSE '' END
                       || CASE WHEN r.rngsubdiff <> 0
                               THEN (SELECT format(', SUBTYPE_DIFF = %I.%I', pn.nspname, p.proname)
                                     FROM pg_proc p JOIN pg_namespace pn ON pn.oid = p.pronamespace
                                     WHERE p.oid = r.rngsubdiff) ELSE '' END
                       """ + multirange + """
                       || ')'
                FROM pg_range r JOIN pg_type t ON t.oid = r.rngtypid JOIN pg_namespace n ON n.oid = t.typnamespace
                JOIN pg_type st ON st.oid = r.rngsubtype
                JOIN pg_opclass oc ON oc.oid = r.rngsubopc JOIN pg_namespace ocn ON ocn.oid = oc.opcnamespace
                LEFT JOIN pg_collation co ON co.oid = r.rngcollation
                LEFT JOIN pg_namespace cn ON cn.oid = co.collnamespace
                WHERE""" + USER_NAMESPACE + " AND " + notExtensionMember("pg_type", "t.oid")
                + " ORDER BY n.nspname, t.typname")) {
            add("pg_type", r.oid(), "type", r.name(), Stage.BEFORE_DATA, r.ddl());
        }
    }

    /** Base types need input and output functions in C: not something a copy can create. */
    private void baseTypes() throws SQLException {
        for (String t : Queries.list(c, "SELECT format('%I.%I', n.nspname, t.typname) " + USER_TYPE
                + " AND t.typtype IN ('b', 'p') AND t.typelem = 0 AND t.typarray <> 0 ORDER BY 1",
                rs -> rs.getString(1))) {
            refused.add(new CatalogSchema.Refusal("base type " + t, "its input and output functions are C code,"
                    + " which a copy cannot create", "install the extension or library that defines it on the target,"
                    + " create the type there, then use SchemaStrategy.NONE or PG_DUMP"));
        }
        for (String t : Queries.list(c, "SELECT format('%I.%I', n.nspname, t.typname) " + USER_TYPE
                + " AND t.typtype = 'b' AND t.typelem = 0 AND t.typarray = 0 AND t.typinput = 'array_in'::regproc"
                + " ORDER BY 1", rs -> rs.getString(1))) {
            refused.add(new CatalogSchema.Refusal("type " + t, "not a kind of type the copy can create",
                    "create it on the target yourself, then use SchemaStrategy.NONE or PG_DUMP"));
        }
    }

    private void functions() throws SQLException {
        record Function(long oid, String name, String ddl, String[] argNames, String args, String result) { }
        for (Function f : Queries.list(c, """
                SELECT p.oid, format('%I.%I(%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)),
                       pg_get_functiondef(p.oid), p.proargnames, pg_get_function_arguments(p.oid),
                       pg_get_function_result(p.oid)
                FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                WHERE p.prokind IN ('f', 'p', 'w') AND""" + USER_NAMESPACE + " AND "
                + notExtensionMember("pg_proc", "p.oid") + " ORDER BY p.oid",
                rs -> new Function(rs.getLong(1), rs.getString(2), rs.getString(3),
                        names(rs.getArray(4)),
                        rs.getString(5), rs.getString(6)))) {
            String ddl = requoteParameters(f.ddl(), f.argNames(), f.args(), f.result());
            add("pg_proc", f.oid(), "function", f.name(), Stage.BEFORE_DATA, ddl);
        }
    }

    private static String[] names(java.sql.Array a) throws SQLException {
        return a == null ? new String[0] : (String[]) a.getArray();
    }

    /**
     * A function definition of an older source whose parameter names became keywords on the target (a parameter
     * called {@code json} on 14 or 16, refused by 18): the source printed them bare, the target needs them quoted.
     * Only the argument list of the header and the columns of {@code RETURNS TABLE} are touched; the body is the
     * body.
     */
    String requoteParameters(String ddl, String[] argNames, String args, String result) {
        List<String> needQuotes = new ArrayList<>();
        for (String a : argNames) {
            if (a != null && !a.isEmpty() && targetKeywords.contains(a)) {
                needQuotes.add(a);
            }
        }
        if (needQuotes.isEmpty()) {
            return ddl;
        }
        String fixedArgs = requoteList(args, needQuotes);
        String fixedResult = result.startsWith("TABLE(") ? "TABLE(" + requoteList(result.substring(6), needQuotes)
                : result;
        int open = ddl.indexOf('(' + args + ')');
        String out = ddl;
        if (open >= 0) {
            out = ddl.substring(0, open + 1) + fixedArgs + ddl.substring(open + 1 + args.length());
        }
        int returns = out.indexOf(" RETURNS " + result);
        if (returns >= 0 && !fixedResult.equals(result)) {
            out = out.substring(0, returns) + " RETURNS " + fixedResult
                    + out.substring(returns + " RETURNS ".length() + result.length());
        }
        return out;
    }

    private static String requoteList(String list, List<String> names) {
        String out = list;
        for (String name : names) {
            Pattern p = Pattern.compile("(^|, )((?:IN |OUT |INOUT |VARIADIC )?)" + Pattern.quote(name) + " ");
            Matcher m = p.matcher(out);
            out = m.replaceAll(r -> Matcher.quoteReplacement(r.group(1) + r.group(2) + quote(name) + " "));
        }
        return out;
    }

    private void domains() throws SQLException {
        for (Row r : rows("""
                SELECT t.oid, format('%I.%I', n.nspname, t.typname),
                       format('CREATE DOMAIN %I.%I AS %s', n.nspname, t.typname,
                              format_type(t.typbasetype, t.typtypmod))
                       || CASE WHEN t.typcollation <> 0 AND t.typcollation <> bt.typcollation
                               THEN (SELECT format(' COLLATE %I.%I', cn.nspname, co.collname) FROM pg_collation co
                                     JOIN pg_namespace cn ON cn.oid = co.collnamespace WHERE co.oid = t.typcollation)
                               ELSE '' END
                       || CASE WHEN t.typdefault IS NOT NULL THEN ' DEFAULT ' || t.typdefault ELSE '' END
                       || CASE WHEN t.typnotnull THEN ' NOT NULL' ELSE '' END
                FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace JOIN pg_type bt ON bt.oid = t.typbasetype
                WHERE t.typtype = 'd' AND""" + USER_NAMESPACE + " AND " + notExtensionMember("pg_type", "t.oid")
                + " ORDER BY n.nspname, t.typname")) {
            add("pg_type", r.oid(), "domain", r.name(), Stage.BEFORE_DATA, r.ddl());
        }
        // Checks are objects of their own: one may call a function that takes the domain.
        for (Row r : rows("""
                SELECT k.oid, format('%I.%I', n.nspname, t.typname) || '.' || format('%I', k.conname),
                       format('ALTER DOMAIN %I.%I ADD CONSTRAINT %I %s', n.nspname, t.typname, k.conname,
                              pg_get_constraintdef(k.oid))
                FROM pg_constraint k JOIN pg_type t ON t.oid = k.contypid JOIN pg_namespace n ON n.oid = t.typnamespace
                WHERE k.contype = 'c' AND""" + USER_NAMESPACE + " AND " + notExtensionMember("pg_type", "t.oid")
                + " ORDER BY n.nspname, t.typname, k.conname")) {
            add("pg_constraint", r.oid(), "domain constraint", r.name(), Stage.BEFORE_DATA, r.ddl());
        }
    }

    private void composites() throws SQLException {
        for (Row r : rows("""
                SELECT t.oid, format('%I.%I', n.nspname, t.typname),
                       format('CREATE TYPE %I.%I AS (%s)', n.nspname, t.typname,
                              coalesce(""" + CatalogSchema.COMPOSITE_ATTRIBUTES + """
                , ''))
                """ + USER_TYPE + """
                  AND t.typtype = 'c' AND (SELECT c.relkind FROM pg_class c WHERE c.oid = t.typrelid) = 'c'
                ORDER BY n.nspname, t.typname
                """)) {
            add("pg_type", r.oid(), "type", r.name(), Stage.BEFORE_DATA, r.ddl());
        }
    }

    private void aggregates() throws SQLException {
        // A function named by a support slot, qualified; the argument types pick the overload.
        for (Row r : rows("""
                SELECT p.oid, format('%I.%I(%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)),
                       format('CREATE AGGREGATE %I.%I (%s) (SFUNC = %s, STYPE = %s', n.nspname, p.proname,
                              coalesce(nullif(pg_get_function_arguments(p.oid), ''), '*'),
                              """ + fn("a.aggtransfn") + """
                , format_type(a.aggtranstype, NULL))
                       || CASE WHEN a.aggtransspace <> 0 THEN ', SSPACE = ' || a.aggtransspace ELSE '' END
                       || CASE WHEN a.aggfinalfn <> 0 THEN ', FINALFUNC = ' || """ + fn("a.aggfinalfn") + """
                                    || CASE WHEN a.aggfinalextra THEN ', FINALFUNC_EXTRA' ELSE '' END
                                    || ', FINALFUNC_MODIFY = ' || CASE a.aggfinalmodify WHEN 'r' THEN 'READ_ONLY'
                                                                   WHEN 's' THEN 'SHAREABLE' ELSE 'READ_WRITE' END
                               ELSE '' END
                       || CASE WHEN a.aggcombinefn <> 0 THEN ', COMBINEFUNC = ' || """
                + fn("a.aggcombinefn") + """
                 ELSE '' END
                       || CASE WHEN a.aggserialfn <> 0 THEN ', SERIALFUNC = ' || """ + fn("a.aggserialfn") + """
                 ELSE '' END
                       || CASE WHEN a.aggdeserialfn <> 0 THEN ', DESERIALFUNC = ' || """
                + fn("a.aggdeserialfn") + """
                 ELSE '' END
                       || CASE WHEN a.agginitval IS NOT NULL THEN ', INITCOND = ' || quote_literal(a.agginitval)
                               ELSE '' END
                       || CASE WHEN a.aggmtransfn <> 0
                               THEN ', MSFUNC = ' || """ + fn("a.aggmtransfn") + """
                                    || ', MINVFUNC = ' || """ + fn("a.aggminvtransfn") + """
                                    || ', MSTYPE = ' || format_type(a.aggmtranstype, NULL)
                                    || CASE WHEN a.aggmtransspace <> 0 THEN ', MSSPACE = ' || a.aggmtransspace
                                            ELSE '' END
                                    || CASE WHEN a.aggmfinalfn <> 0
                                            THEN ', MFINALFUNC = ' || """ + fn("a.aggmfinalfn") + """
                                                 || CASE WHEN a.aggmfinalextra THEN ', MFINALFUNC_EXTRA' ELSE '' END
                                                 || ', MFINALFUNC_MODIFY = '
                                                 || CASE a.aggmfinalmodify WHEN 'r' THEN 'READ_ONLY'
                                                         WHEN 's' THEN 'SHAREABLE' ELSE 'READ_WRITE' END
                                            ELSE '' END
                                    || CASE WHEN a.aggminitval IS NOT NULL
                                            THEN ', MINITCOND = ' || quote_literal(a.aggminitval) ELSE '' END
                               ELSE '' END
                       || CASE WHEN a.aggsortop <> 0
                               THEN (SELECT format(', SORTOP = OPERATOR(%I.%s)', opn.nspname, o.oprname)
                                     FROM pg_operator o JOIN pg_namespace opn ON opn.oid = o.oprnamespace
                                     WHERE o.oid = a.aggsortop) ELSE '' END
                       || CASE p.proparallel WHEN 's' THEN ', PARALLEL = SAFE' WHEN 'r' THEN ', PARALLEL = RESTRICTED'
                               ELSE '' END
                       || CASE WHEN a.aggkind = 'h' THEN ', HYPOTHETICAL' ELSE '' END
                       || ')'
                FROM pg_aggregate a JOIN pg_proc p ON p.oid = a.aggfnoid JOIN pg_namespace n ON n.oid = p.pronamespace
                WHERE""" + USER_NAMESPACE + " AND " + notExtensionMember("pg_proc", "p.oid") + " ORDER BY p.oid")) {
            add("pg_proc", r.oid(), "aggregate", r.name(), Stage.BEFORE_DATA, r.ddl());
        }
    }

    /** The function {@code oid} names, qualified; the argument types of the statement pick the overload. */
    private static String fn(String oid) {
        return "(SELECT format('%I.%I', pn.nspname, p2.proname) FROM pg_proc p2"
                + " JOIN pg_namespace pn ON pn.oid = p2.pronamespace WHERE p2.oid = " + oid + ")";
    }

    /** The operator {@code oid} names, as {@code OPERATOR(schema.op)}. */
    private static String op(String oid) {
        return "(SELECT format('OPERATOR(%I.%s)', on2.nspname, o2.oprname) FROM pg_operator o2"
                + " JOIN pg_namespace on2 ON on2.oid = o2.oprnamespace WHERE o2.oid = " + oid + ")";
    }

    private void operators() throws SQLException {
        for (Row r : rows("""
                SELECT o.oid, o.oid::regoperator::text,
                       format('CREATE OPERATOR %I.%s (FUNCTION = %s', n.nspname, o.oprname, """
                + fn("o.oprcode") + """
                )
                       || CASE WHEN o.oprleft <> 0 THEN ', LEFTARG = ' || format_type(o.oprleft, NULL) ELSE '' END
                       || CASE WHEN o.oprright <> 0 THEN ', RIGHTARG = ' || format_type(o.oprright, NULL) ELSE '' END
                       || CASE WHEN o.oprcom <> 0 THEN ', COMMUTATOR = ' || """ + op("o.oprcom") + """
                 ELSE '' END
                       || CASE WHEN o.oprnegate <> 0 THEN ', NEGATOR = ' || """ + op("o.oprnegate") + """
                 ELSE '' END
                       || CASE WHEN o.oprrest <> 0 THEN ', RESTRICT = ' || """ + fn("o.oprrest") + """
                 ELSE '' END
                       || CASE WHEN o.oprjoin <> 0 THEN ', JOIN = ' || """ + fn("o.oprjoin") + """
                 ELSE '' END
                       || CASE WHEN o.oprcanhash THEN ', HASHES' ELSE '' END
                       || CASE WHEN o.oprcanmerge THEN ', MERGES' ELSE '' END
                       || ')'
                FROM pg_operator o JOIN pg_namespace n ON n.oid = o.oprnamespace
                WHERE o.oid >= 16384 AND o.oprcode <> 0 AND""" + USER_NAMESPACE + " AND "
                + notExtensionMember("pg_operator", "o.oid") + " ORDER BY o.oid")) {
            add("pg_operator", r.oid(), "operator", r.name(), Stage.BEFORE_DATA, r.ddl());
        }
    }

    private void operatorFamiliesAndClasses() throws SQLException {
        for (Row r : rows("""
                SELECT f.oid, format('%I.%I USING %I', n.nspname, f.opfname, am.amname),
                       format('CREATE OPERATOR FAMILY %I.%I USING %I', n.nspname, f.opfname, am.amname)
                FROM pg_opfamily f JOIN pg_namespace n ON n.oid = f.opfnamespace JOIN pg_am am ON am.oid = f.opfmethod
                WHERE f.oid >= 16384 AND""" + USER_NAMESPACE + " AND " + notExtensionMember("pg_opfamily", "f.oid")
                + " ORDER BY n.nspname, f.opfname")) {
            add("pg_opfamily", r.oid(), "operator family", r.name(), Stage.BEFORE_DATA, r.ddl());
        }
        // A class's operators and functions (pg_amop, pg_amproc) depend on it internally; the others of a family
        // are its loose members, added to it after the classes.
        String members = """
                SELECT string_agg(m, ', ' ORDER BY k, num) FROM (
                    SELECT 0 AS k, ao.amopstrategy AS num, format('OPERATOR %s %s', ao.amopstrategy,
                           ao.amopopr::regoperator::text)
                           || CASE WHEN ao.amoppurpose = 'o'
                                   THEN (SELECT format(' FOR ORDER BY %I.%I', sfn.nspname, sf.opfname)
                                         FROM pg_opfamily sf JOIN pg_namespace sfn ON sfn.oid = sf.opfnamespace
                                         WHERE sf.oid = ao.amopsortfamily) ELSE '' END AS m
                    FROM pg_amop ao JOIN pg_depend d ON d.classid = 'pg_amop'::regclass AND d.objid = ao.oid
                    WHERE {WHICH}
                    UNION ALL
                    SELECT 1, ap.amprocnum, format('FUNCTION %s (%s, %s) %s', ap.amprocnum,
                           format_type(ap.amproclefttype, NULL), format_type(ap.amprocrighttype, NULL),
                           ap.amproc::regprocedure::text)
                    FROM pg_amproc ap JOIN pg_depend d ON d.classid = 'pg_amproc'::regclass AND d.objid = ap.oid
                    WHERE {WHICH}
                ) x""";
        String ofClass = "d.refclassid = 'pg_opclass'::regclass AND d.refobjid = oc.oid AND d.deptype = 'i'";
        for (Row r : rows("""
                SELECT oc.oid, format('%I.%I USING %I', n.nspname, oc.opcname, am.amname),
                       format('CREATE OPERATOR CLASS %I.%I %sFOR TYPE %s USING %I FAMILY %I.%I AS ', n.nspname,
                              oc.opcname, CASE WHEN oc.opcdefault THEN 'DEFAULT ' ELSE '' END,
                              format_type(oc.opcintype, NULL), am.amname, fn.nspname, f.opfname)
                       || coalesce((""" + members.replace("{WHICH}", ofClass) + """
                ), '')
                       || CASE WHEN oc.opckeytype <> 0 THEN ', STORAGE ' || format_type(oc.opckeytype, NULL)
                               ELSE '' END
                FROM pg_opclass oc JOIN pg_namespace n ON n.oid = oc.opcnamespace JOIN pg_am am ON am.oid = oc.opcmethod
                JOIN pg_opfamily f ON f.oid = oc.opcfamily JOIN pg_namespace fn ON fn.oid = f.opfnamespace
                WHERE oc.oid >= 16384 AND""" + USER_NAMESPACE + " AND " + notExtensionMember("pg_opclass", "oc.oid")
                + " ORDER BY n.nspname, oc.opcname")) {
            add("pg_opclass", r.oid(), "operator class", r.name(), Stage.BEFORE_DATA,
                    r.ddl().replace("AS , ", "AS ").replaceAll(" AS $", ""));
        }
        String loose = "d.refclassid = 'pg_opfamily'::regclass AND d.refobjid = f.oid AND d.deptype = 'a'"
                + " AND d.classid IN ('pg_amop'::regclass, 'pg_amproc'::regclass)";
        for (Row r : rows("""
                SELECT f.oid, format('%I.%I USING %I', n.nspname, f.opfname, am.amname),
                       format('ALTER OPERATOR FAMILY %I.%I USING %I ADD ', n.nspname, f.opfname, am.amname)
                       || (""" + members.replace("{WHICH}", loose) + """
                )
                FROM pg_opfamily f JOIN pg_namespace n ON n.oid = f.opfnamespace JOIN pg_am am ON am.oid = f.opfmethod
                WHERE f.oid >= 16384 AND""" + USER_NAMESPACE + " AND " + notExtensionMember("pg_opfamily", "f.oid")
                + " AND EXISTS (SELECT 1 FROM pg_depend d WHERE " + loose + ")"
                + " ORDER BY n.nspname, f.opfname")) {
            CatalogObject o = new CatalogObject(Ref.extra("members", new Ref("pg_opfamily", r.oid())),
                    "operator family members", r.name(), Stage.BEFORE_DATA, List.of(r.ddl()),
                    Set.of(new Ref("pg_opfamily", r.oid())));
            add(o);
        }
    }

    private void casts() throws SQLException {
        for (Row r : rows("""
                SELECT k.oid, format('(%s AS %s)', format_type(k.castsource, NULL), format_type(k.casttarget, NULL)),
                       format('CREATE CAST (%s AS %s) ', format_type(k.castsource, NULL),
                              format_type(k.casttarget, NULL))
                       || CASE k.castmethod WHEN 'f' THEN 'WITH FUNCTION ' || k.castfunc::regprocedure::text
                                            WHEN 'i' THEN 'WITH INOUT' ELSE 'WITHOUT FUNCTION' END
                       || CASE k.castcontext WHEN 'a' THEN ' AS ASSIGNMENT' WHEN 'i' THEN ' AS IMPLICIT' ELSE '' END
                FROM pg_cast k
                WHERE k.oid >= 16384 AND""" + notExtensionMember("pg_cast", "k.oid") + " ORDER BY k.oid")) {
            add("pg_cast", r.oid(), "cast", r.name(), Stage.BEFORE_DATA, r.ddl());
        }
    }

    private void conversions() throws SQLException {
        for (Row r : rows("""
                SELECT v.oid, format('%I.%I', n.nspname, v.conname),
                       format('CREATE %sCONVERSION %I.%I FOR %L TO %L FROM %s',
                              CASE WHEN v.condefault THEN 'DEFAULT ' ELSE '' END, n.nspname, v.conname,
                              pg_encoding_to_char(v.conforencoding), pg_encoding_to_char(v.contoencoding),
                              v.conproc::regproc::text)
                FROM pg_conversion v JOIN pg_namespace n ON n.oid = v.connamespace
                WHERE v.oid >= 16384 AND""" + USER_NAMESPACE + " AND " + notExtensionMember("pg_conversion", "v.oid")
                + " ORDER BY n.nspname, v.conname")) {
            add("pg_conversion", r.oid(), "conversion", r.name(), Stage.BEFORE_DATA, r.ddl());
        }
    }

    private void textSearch() throws SQLException {
        for (String kind : List.of("parser", "template")) {
            String catalog = kind.equals("parser") ? "pg_ts_parser" : "pg_ts_template";
            String column = kind.equals("parser") ? "prs" : "tmpl";
            for (String name : Queries.list(c, "SELECT format('%I.%I', n.nspname, x." + column + "name) FROM "
                    + catalog + " x JOIN pg_namespace n ON n.oid = x." + column + "namespace WHERE x.oid >= 16384 AND"
                    + USER_NAMESPACE + " AND " + notExtensionMember(catalog, "x.oid") + " ORDER BY 1",
                    rs -> rs.getString(1))) {
                refused.add(new CatalogSchema.Refusal("text search " + kind + " " + name, "its functions are C"
                        + " code, which a copy cannot create", "install the extension or library that defines it on"
                        + " the target, create it there, then use SchemaStrategy.NONE or PG_DUMP"));
            }
        }
        for (Row r : rows("""
                SELECT d.oid, format('%I.%I', n.nspname, d.dictname),
                       format('CREATE TEXT SEARCH DICTIONARY %I.%I (TEMPLATE = %I.%I%s)', n.nspname, d.dictname,
                              tn.nspname, t.tmplname,
                              CASE WHEN d.dictinitoption IS NOT NULL THEN ', ' || d.dictinitoption ELSE '' END)
                FROM pg_ts_dict d JOIN pg_namespace n ON n.oid = d.dictnamespace
                JOIN pg_ts_template t ON t.oid = d.dicttemplate JOIN pg_namespace tn ON tn.oid = t.tmplnamespace
                WHERE d.oid >= 16384 AND""" + USER_NAMESPACE + " AND " + notExtensionMember("pg_ts_dict", "d.oid")
                + " ORDER BY n.nspname, d.dictname")) {
            add("pg_ts_dict", r.oid(), "text search dictionary", r.name(), Stage.BEFORE_DATA, r.ddl());
        }
        for (Row r : rows("""
                SELECT cf.oid, format('%I.%I', n.nspname, cf.cfgname),
                       format('CREATE TEXT SEARCH CONFIGURATION %I.%I (PARSER = %I.%I)', n.nspname, cf.cfgname,
                              pn.nspname, p.prsname)
                       || coalesce((SELECT string_agg(format('; ALTER TEXT SEARCH CONFIGURATION %I.%I ADD MAPPING FOR'
                                                             || ' %s WITH %s', n.nspname, cf.cfgname, tt.alias, m.dicts),
                                                      '' ORDER BY tt.alias)
                                    FROM (SELECT mm.maptokentype,
                                                 string_agg(format('%I.%I', dn.nspname, dd.dictname), ', '
                                                            ORDER BY mm.mapseqno) AS dicts
                                          FROM pg_ts_config_map mm JOIN pg_ts_dict dd ON dd.oid = mm.mapdict
                                          JOIN pg_namespace dn ON dn.oid = dd.dictnamespace
                                          WHERE mm.mapcfg = cf.oid GROUP BY mm.maptokentype) m
                                    JOIN ts_token_type(cf.cfgparser) tt ON tt.tokid = m.maptokentype), '')
                FROM pg_ts_config cf JOIN pg_namespace n ON n.oid = cf.cfgnamespace
                JOIN pg_ts_parser p ON p.oid = cf.cfgparser JOIN pg_namespace pn ON pn.oid = p.prsnamespace
                WHERE cf.oid >= 16384 AND""" + USER_NAMESPACE + " AND " + notExtensionMember("pg_ts_config", "cf.oid")
                + " ORDER BY n.nspname, cf.cfgname")) {
            addStatements("pg_ts_config", r.oid(), "text search configuration", r.name(), Stage.BEFORE_DATA, r.ddl());
        }
    }

    private void sequences() throws SQLException {
        String unlogged = major >= 15 ? "CASE WHEN c.relpersistence = 'u' THEN 'UNLOGGED ' ELSE '' END" : "''";
        for (Row r : rows("""
                SELECT c.oid, format('%I.%I', n.nspname, c.relname),
                       format('CREATE %sSEQUENCE IF NOT EXISTS %I.%I AS %s INCREMENT BY %s MINVALUE %s MAXVALUE %s'
                              || ' START WITH %s CACHE %s %s', """ + unlogged + """
                , n.nspname, c.relname, format_type(s.seqtypid, NULL),
                              s.seqincrement, s.seqmin, s.seqmax, s.seqstart, s.seqcache,
                              CASE WHEN s.seqcycle THEN 'CYCLE' ELSE 'NO CYCLE' END)
                FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE""" + USER_NAMESPACE + " AND " + notExtensionMember("pg_class", "c.oid") + """
                  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                                  AND d.objid = c.oid AND d.deptype = 'i')
                ORDER BY n.nspname, c.relname
                """)) {
            add("pg_class", r.oid(), "sequence", r.name(), Stage.BEFORE_DATA, r.ddl());
        }
    }

    /** The column part that differs between tables and partitions is computed in {@link #columnOptions}. */
    private void tables() throws SQLException {
        boolean viaRoot = major >= 13;
        record Relation(long oid, TableRef table, String kind, boolean permanent, boolean partition,
                        boolean inheritance, String options, String partitionOf, long parent) { }
        List<Relation> relations = Queries.list(c, """
                SELECT c.oid, n.nspname, c.relname, c.relkind, c.relpersistence, c.relispartition,
                       EXISTS (SELECT 1 FROM pg_inherits i WHERE (i.inhrelid = c.oid AND NOT c.relispartition)
                                                            OR (i.inhparent = c.oid AND c.relkind <> 'p')),
                       CASE WHEN c.relkind = 'p' THEN ' PARTITION BY ' || pg_get_partkeydef(c.oid) ELSE '' END
                       || CASE WHEN am.amname IS NOT NULL AND am.amname <> 'heap'
                               THEN format(' USING %I', am.amname) ELSE '' END
                       || CASE WHEN c.reloptions IS NOT NULL OR tc.reloptions IS NOT NULL
                               THEN ' WITH (' || array_to_string(array_cat(c.reloptions,
                                    (SELECT array_agg('toast.' || o) FROM unnest(tc.reloptions) o)), ', ') || ')'
                               ELSE '' END,
                       (SELECT format('%I.%I', pn.nspname, pc.relname) || ' ' || pg_get_expr(c.relpartbound, c.oid)
                        FROM pg_inherits i JOIN pg_class pc ON pc.oid = i.inhparent
                        JOIN pg_namespace pn ON pn.oid = pc.relnamespace
                        WHERE i.inhrelid = c.oid AND c.relispartition),
                       (SELECT i.inhparent FROM pg_inherits i WHERE i.inhrelid = c.oid AND c.relispartition)
                FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                LEFT JOIN pg_am am ON am.oid = c.relam
                LEFT JOIN pg_class tc ON tc.oid = c.reltoastrelid
                WHERE c.relkind IN ('r', 'p', 'f') AND""" + USER_NAMESPACE + " AND "
                + notExtensionMember("pg_class", "c.oid") + """
                ORDER BY n.nspname, c.relname
                """, rs -> new Relation(rs.getLong(1), new TableRef(rs.getString(2), rs.getString(3)),
                rs.getString(4), "p".equals(rs.getString(5)), rs.getBoolean(6), rs.getBoolean(7), rs.getString(8),
                rs.getString(9), rs.getLong(10)));
        Map<Long, Relation> byOid = new HashMap<>();
        relations.forEach(r -> byOid.put(r.oid(), r));
        Map<Long, String> columns = columnDefinitions();
        Map<Long, List<String>> options = columnOptions();
        for (Relation r : relations) {
            TableRef t = r.table();
            String reason = null;
            if (r.kind().equals("f")) {
                reason = "foreign tables are not copied; recreate the server, user mapping and table on the target";
            } else if (r.inheritance()) {
                reason = "table inheritance is not copied; convert it to declarative partitioning";
            } else if (r.kind().equals("p") && !viaRoot) {
                reason = "partitioned tables replicate through their root, which needs a source on PostgreSQL 13"
                        + " or later";
            } else if (r.partition() && (!byOid.containsKey(r.parent()) || !viaRoot)) {
                reason = "its partitioned table is not copied";
            }
            if (reason != null) {
                notCopied.add("table " + t + ": " + reason);
                continue;
            }
            String unlogged = r.permanent() ? "" : "UNLOGGED ";
            List<String> ddl = new ArrayList<>();
            Set<Ref> needs = Set.of();
            if (r.partition()) {
                ddl.add("CREATE " + unlogged + "TABLE " + t.quoted() + " PARTITION OF " + r.partitionOf()
                        + r.options());
                needs = Set.of(new Ref("pg_class", r.parent()));
            } else {
                ddl.add("CREATE " + unlogged + "TABLE " + t.quoted() + " (\n    " + columns.getOrDefault(r.oid(), "")
                        + "\n)" + r.options());
                if (r.permanent()) {
                    replicated.put(r.oid(), t); // unlogged tables are created, but their rows cannot be replicated
                }
            }
            ddl.addAll(options.getOrDefault(r.oid(), List.of()));
            created.put(r.oid(), t);
            add(new CatalogObject(new Ref("pg_class", r.oid()), "table", t.toString(), Stage.BEFORE_DATA,
                    ddl, needs));
        }
    }

    /**
     * Each table's column list: types, collations, identity, generated expressions, NOT NULL, and the defaults that
     * call no function of the schema (those are set afterwards, {@link #columnDefaults}, so a function may return the
     * table's row type).
     */
    private Map<Long, String> columnDefinitions() throws SQLException {
        String generatedVirtual = major >= 18 ? """
                               WHEN a.attgenerated = 'v'
                               THEN format(' GENERATED ALWAYS AS (%s) VIRTUAL', pg_get_expr(d.adbin, d.adrelid))
                """ : "";
        record Column(long table, String definition) { }
        Map<Long, String> out = new HashMap<>();
        for (Column col : Queries.list(c, """
                SELECT a.attrelid,
                       format('%I %s', a.attname, format_type(a.atttypid, a.atttypmod))
                       || CASE WHEN a.attcollation <> 0 AND a.attcollation <> t.typcollation
                               THEN format(' COLLATE %I.%I', cn.nspname, co.collname) ELSE '' END
                       || CASE WHEN a.attgenerated = 's'
                               THEN format(' GENERATED ALWAYS AS (%s) STORED', pg_get_expr(d.adbin, d.adrelid))
                """ + generatedVirtual + """
                               WHEN a.attidentity IN ('a', 'd')
                               THEN format(' GENERATED %s AS IDENTITY (SEQUENCE NAME %I.%I INCREMENT BY %s MINVALUE %s'
                                           ' MAXVALUE %s START WITH %s CACHE %s %s)',
                                           CASE a.attidentity WHEN 'a' THEN 'ALWAYS' ELSE 'BY DEFAULT' END,
                                           sn.nspname, sc.relname, sq.seqincrement, sq.seqmin, sq.seqmax,
                                           sq.seqstart, sq.seqcache,
                                           CASE WHEN sq.seqcycle THEN 'CYCLE' ELSE 'NO CYCLE' END)
                               WHEN d.adbin IS NOT NULL AND NOT """ + CALLS_SCHEMA_FUNCTION + """
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
                  AND""" + USER_NAMESPACE + """
                ORDER BY a.attrelid, a.attnum
                """, rs -> new Column(rs.getLong(1), rs.getString(2)))) {
            out.merge(col.table(), col.definition(), (x, y) -> x + ",\n    " + y);
        }
        // An inline default is part of its table: what it needs, the table needs.
        for (long[] def : Queries.list(c, """
                SELECT d.oid, d.adrelid FROM pg_attrdef d JOIN pg_class c ON c.oid = d.adrelid
                JOIN pg_namespace n ON n.oid = c.relnamespace
                JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
                WHERE (a.attgenerated <> '' OR c.relispartition OR NOT""" + CALLS_SCHEMA_FUNCTION + ") AND"
                + USER_NAMESPACE,
                rs -> new long[]{rs.getLong(1), rs.getLong(2)})) {
            partOf.put(new Ref("pg_attrdef", def[0]), new Ref("pg_class", def[1]));
        }
        return out;
    }

    /** Whether the default {@code d} calls a function created by the copy (not the system's, not an extension's). */
    // Plain string with surrounding spaces: a text block strips the trailing space before it.
    private static final String CALLS_SCHEMA_FUNCTION = " EXISTS (SELECT 1 FROM pg_depend fd JOIN pg_proc fp"
            + " ON fp.oid = fd.refobjid WHERE fd.classid = 'pg_attrdef'::regclass AND fd.objid = d.oid"
            + " AND fd.refclassid = 'pg_proc'::regclass AND fd.refobjid >= 16384"
            + " AND NOT EXISTS (SELECT 1 FROM pg_depend fe WHERE fe.classid = 'pg_proc'::regclass"
            + " AND fe.objid = fp.oid AND fe.deptype = 'e')) ";

    /**
     * What a column has beyond its definition, as ALTER statements per table: storage, statistics target, options
     * ({@code n_distinct}, ...) and compression.
     */
    private Map<Long, List<String>> columnOptions() throws SQLException {
        String compression = major >= 14 ? """
                       || CASE a.attcompression WHEN 'p' THEN format('; ALTER TABLE ONLY %I.%I ALTER COLUMN %I'
                                                                     || ' SET COMPRESSION pglz', n.nspname,
                                                                     c.relname, a.attname)
                                                WHEN 'l' THEN format('; ALTER TABLE ONLY %I.%I ALTER COLUMN %I'
                                                                     || ' SET COMPRESSION lz4', n.nspname,
                                                                     c.relname, a.attname)
                                                ELSE '' END""" : "";
        record Option(long table, String ddl) { }
        Map<Long, List<String>> out = new HashMap<>();
        for (Option o : Queries.list(c, """
                SELECT a.attrelid,
                       CASE WHEN a.attstorage <> t.typstorage
                            THEN format('; ALTER TABLE ONLY %I.%I ALTER COLUMN %I SET STORAGE %s', n.nspname,
                                        c.relname, a.attname, CASE a.attstorage WHEN 'p' THEN 'PLAIN'
                                        WHEN 'e' THEN 'EXTERNAL' WHEN 'm' THEN 'MAIN' ELSE 'EXTENDED' END)
                            ELSE '' END
                       || CASE WHEN a.attstattarget IS NOT NULL AND a.attstattarget >= 0
                               THEN format('; ALTER TABLE ONLY %I.%I ALTER COLUMN %I SET STATISTICS %s', n.nspname,
                                           c.relname, a.attname, a.attstattarget)
                               ELSE '' END
                       || CASE WHEN a.attoptions IS NOT NULL
                               THEN format('; ALTER TABLE ONLY %I.%I ALTER COLUMN %I SET (%s)', n.nspname,
                                           c.relname, a.attname, array_to_string(a.attoptions, ', '))
                               ELSE '' END
                       """ + compression + """

                FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
                JOIN pg_type t ON t.oid = a.atttypid
                WHERE c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped AND""" + USER_NAMESPACE + """
                ORDER BY a.attrelid, a.attnum
                """, rs -> new Option(rs.getLong(1), rs.getString(2)))) {
            for (String s : o.ddl().split("; ")) {
                if (!s.isBlank()) {
                    out.computeIfAbsent(o.table(), k -> new ArrayList<>()).add(s);
                }
            }
        }
        return out;
    }

    /** A partition's columns come from its parent; a default or NOT NULL of its own is set afterwards. */
    private void partitionColumns() throws SQLException {
        record Own(long oid, String ddl) { }
        Map<Long, List<String>> own = new LinkedHashMap<>();
        for (Own o : Queries.list(c, """
                SELECT c.oid,
                       format('ALTER TABLE ONLY %I.%I ALTER COLUMN %I ', n.nspname, c.relname, a.attname)
                       || CASE WHEN d.adbin IS NOT NULL THEN 'SET DEFAULT ' || pg_get_expr(d.adbin, d.adrelid)
                               ELSE 'DROP DEFAULT' END
                       || CASE WHEN a.attnotnull AND NOT pa.attnotnull
                               THEN format(', ALTER COLUMN %I SET NOT NULL', a.attname) ELSE '' END
                FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
                JOIN pg_inherits i ON i.inhrelid = c.oid
                JOIN pg_attribute pa ON pa.attrelid = i.inhparent AND pa.attname = a.attname
                LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
                LEFT JOIN pg_attrdef pd ON pd.adrelid = pa.attrelid AND pd.adnum = pa.attnum
                WHERE c.relispartition AND a.attnum > 0 AND NOT a.attisdropped
                  AND (pg_get_expr(d.adbin, d.adrelid) IS DISTINCT FROM pg_get_expr(pd.adbin, pd.adrelid)
                       OR (a.attnotnull AND NOT pa.attnotnull))
                ORDER BY c.oid, a.attnum
                """, rs -> new Own(rs.getLong(1), rs.getString(2)))) {
            own.computeIfAbsent(o.oid(), k -> new ArrayList<>()).add(o.ddl());
        }
        own.forEach((oid, ddl) -> {
            if (created.containsKey(oid)) {
                Ref table = new Ref("pg_class", oid);
                add(new CatalogObject(Ref.extra("columns", table), "partition columns",
                        created.get(oid).toString(), Stage.BEFORE_DATA, ddl, Set.of(table)));
            }
        });
    }

    /** Defaults that call a function of the schema, set once both exist. */
    private void columnDefaults() throws SQLException {
        record Default(long oid, long table, String name, String ddl) { }
        for (Default d : Queries.list(c, """
                SELECT d.oid, c.oid, format('%I.%I.%I', n.nspname, c.relname, a.attname),
                       format('ALTER TABLE %s%I.%I ALTER COLUMN %I SET DEFAULT %s',
                              CASE WHEN c.relkind = 'r' THEN 'ONLY ' ELSE '' END, n.nspname, c.relname, a.attname,
                              pg_get_expr(d.adbin, d.adrelid))
                FROM pg_attrdef d JOIN pg_class c ON c.oid = d.adrelid JOIN pg_namespace n ON n.oid = c.relnamespace
                JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
                WHERE NOT c.relispartition AND a.attgenerated = '' AND""" + CALLS_SCHEMA_FUNCTION + " AND"
                + USER_NAMESPACE + " ORDER BY n.nspname, c.relname, a.attnum",
                rs -> new Default(rs.getLong(1), rs.getLong(2), rs.getString(3), rs.getString(4)))) {
            if (created.containsKey(d.table())) {
                add("pg_attrdef", d.oid(), "column default", d.name(), Stage.BEFORE_DATA, d.ddl());
            }
        }
    }

    private static final String TABLE_CONSTRAINTS = """
            SELECT k.oid, format('%I.%I.%I', n.nspname, c.relname, k.conname),
                   format('ALTER TABLE %s%I.%I ADD CONSTRAINT %I %s',
                          CASE WHEN c.relkind = 'r' THEN 'ONLY ' ELSE '' END, n.nspname, c.relname, k.conname,
                          pg_get_constraintdef(k.oid))
            FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE k.conislocal AND k.conparentid = 0 AND k.contype = ANY (?::"char"[]) AND""" + USER_NAMESPACE + """
            ORDER BY n.nspname, c.relname, k.contype DESC, k.conname
            """;

    /**
     * Keys, checks and exclusions, before the data. A partition created after its parent's keys clones them; its own
     * come after it. ONLY keeps a plain table's constraint off inheritance children.
     */
    private void constraints() throws SQLException {
        Map<Long, List<Ref>> byTable = new HashMap<>();
        // A plain table's primary key and unique constraints come after the data, as pg_dump's do: a bare heap loads
        // faster, and one index build is cheaper than as many insertions as there are rows. The index is built on
        // its own (several at once), then the constraint takes it over, which is how its name and options stay the
        // source's. A partitioned table's keys stay before: its partitions are created with them.
        record KeyIndex(long oid, String index, String attach) { }
        Map<Long, KeyIndex> keyIndexes = new HashMap<>();
        for (KeyIndex k : Queries.list(c, """
                SELECT k.oid, pg_get_indexdef(k.conindid),
                       format('ALTER TABLE ONLY %I.%I ADD CONSTRAINT %I %s USING INDEX %I%s', n.nspname, c.relname,
                              k.conname, CASE k.contype WHEN 'p' THEN 'PRIMARY KEY' ELSE 'UNIQUE' END, ic.relname,
                              CASE WHEN k.condeferred THEN ' DEFERRABLE INITIALLY DEFERRED'
                                   WHEN k.condeferrable THEN ' DEFERRABLE' ELSE '' END)
                FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
                JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_class ic ON ic.oid = k.conindid
                WHERE k.contype IN ('p', 'u') AND c.relkind = 'r' AND NOT c.relispartition AND k.conislocal
                """, rs -> new KeyIndex(rs.getLong(1), rs.getString(2), rs.getString(3)))) {
            keyIndexes.put(k.oid(), k);
        }
        record Constraint(long oid, long table, String name, String ddl) { }
        for (Constraint k : Queries.list(c, TABLE_CONSTRAINTS.replace("SELECT k.oid,", "SELECT k.oid, k.conrelid,"),
                rs -> new Constraint(rs.getLong(1), rs.getLong(2), rs.getString(3), rs.getString(4)), "{p,u,c,x}")) {
            if (created.containsKey(k.table()) && keyIndexes.containsKey(k.oid())) {
                Ref constraint = new Ref("pg_constraint", k.oid());
                Ref index = Ref.extra("key index", constraint);
                add(new CatalogObject(index, "index", k.name(), Stage.AFTER_DATA,
                        List.of(keyIndexes.get(k.oid()).index()), Set.of(new Ref("pg_class", k.table()))));
                add(new CatalogObject(constraint, "constraint", k.name(), Stage.AFTER_DATA,
                        List.of(keyIndexes.get(k.oid()).attach()), Set.of(index)));
            } else if (created.containsKey(k.table())) {
                add("pg_constraint", k.oid(), "constraint", k.name(), Stage.BEFORE_DATA, k.ddl());
                byTable.computeIfAbsent(k.table(), t -> new ArrayList<>()).add(new Ref("pg_constraint", k.oid()));
            }
        }
        // A partition comes after its parent's keys and checks, so it is created with them.
        for (int i = 0; i < objects.size(); i++) {
            CatalogObject o = objects.get(i);
            if (o.kind().equals("table") && !o.needs().isEmpty()) {
                long parent = o.needs().iterator().next().oid();
                objects.set(i, o.needing(Set.copyOf(byTable.getOrDefault(parent, List.of()))));
            }
        }
    }

    /** A sequence that belongs to a column, once both exist. */
    private void sequenceOwners() throws SQLException {
        record Owned(long oid, long table, String name, String ddl) { }
        for (Owned o : Queries.list(c, """
                SELECT s.oid, t.oid, format('%I.%I', sn.nspname, s.relname),
                       format('ALTER SEQUENCE %I.%I OWNED BY %I.%I.%I', sn.nspname, s.relname, tn.nspname,
                              t.relname, a.attname)
                FROM pg_depend d
                JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
                JOIN pg_namespace sn ON sn.oid = s.relnamespace
                JOIN pg_class t ON t.oid = d.refobjid
                JOIN pg_namespace tn ON tn.oid = t.relnamespace
                JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
                WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass AND d.deptype = 'a'
                ORDER BY 2
                """, rs -> new Owned(rs.getLong(1), rs.getLong(2), rs.getString(3), rs.getString(4)))) {
            Ref sequence = new Ref("pg_class", o.oid());
            long table = o.table();
            if (has(sequence)) {
                if (created.containsKey(table)) {
                    add(new CatalogObject(Ref.extra("owned by", sequence), "sequence owner", o.name(),
                            Stage.BEFORE_DATA, List.of(o.ddl()), Set.of(sequence, new Ref("pg_class", table))));
                }
            }
        }
    }

    /**
     * Secondary indexes, after the data. A partitioned table's index is created ON ONLY it, its partitions' indexes
     * on them, and then attached: the same names as on the source, which an index cascading to the partitions would
     * not guarantee. Statistics targets of expression columns follow their index.
     */
    private void indexes() throws SQLException {
        record Index(long oid, long table, String name, String ddl, String stats, Long parent, String attach) { }
        for (Index i : Queries.list(c, """
                SELECT i.indexrelid, i.indrelid, format('%I.%I', n.nspname, ic.relname), pg_get_indexdef(i.indexrelid),
                       (SELECT string_agg(format('; ALTER INDEX %I.%I ALTER COLUMN %s SET STATISTICS %s', n.nspname,
                                                 ic.relname, a.attnum, a.attstattarget), '' ORDER BY a.attnum)
                        FROM pg_attribute a WHERE a.attrelid = i.indexrelid AND a.attstattarget IS NOT NULL
                          AND a.attstattarget >= 0),
                       (SELECT h.inhparent FROM pg_inherits h WHERE h.inhrelid = i.indexrelid),
                       (SELECT format('ALTER INDEX %I.%I ATTACH PARTITION %I.%I', pn.nspname, p.relname, n.nspname,
                                      ic.relname)
                        FROM pg_inherits h JOIN pg_class p ON p.oid = h.inhparent
                        JOIN pg_namespace pn ON pn.oid = p.relnamespace WHERE h.inhrelid = i.indexrelid)
                FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_namespace n ON n.oid = ic.relnamespace
                WHERE NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid
                                  AND k.conrelid = i.indrelid AND k.contype IN ('p', 'u', 'x'))
                  AND""" + USER_NAMESPACE + """
                ORDER BY ic.relname
                """, rs -> new Index(rs.getLong(1), rs.getLong(2), rs.getString(3), rs.getString(4), rs.getString(5),
                (Long) rs.getObject(6), rs.getString(7)))) {
            if (!created.containsKey(i.table()) && !has(new Ref("pg_class", i.table()))) {
                continue;
            }
            List<String> ddl = new ArrayList<>();
            ddl.add(i.ddl());
            if (i.stats() != null) {
                for (String s : i.stats().split("; ")) {
                    if (!s.isBlank()) {
                        ddl.add(s);
                    }
                }
            }
            Ref ref = new Ref("pg_class", i.oid());
            add(new CatalogObject(ref, "index", i.name(), Stage.AFTER_DATA, ddl, Set.of()));
            if (i.parent() != null) {
                add(new CatalogObject(Ref.extra("attach", ref), "index attachment", i.name(),
                        Stage.AFTER_DATA, List.of(i.attach()), Set.of(ref, new Ref("pg_class", i.parent()))));
            }
        }
    }

    /**
     * Foreign keys, after the data. A plain table's valid foreign key is added {@code NOT VALID} (no scan) and then
     * validated by a statement of its own, which a copy runs on a session of its own, several at once (validating
     * takes a lock that lets the other tables' validations run). A partitioned table's, or one not valid on the
     * source, is added as the source has it.
     */
    private void foreignKeys() throws SQLException {
        record Constraint(long oid, long table, String name, String ddl, String validate) { }
        for (Constraint k : Queries.list(c, TABLE_CONSTRAINTS.replace("SELECT k.oid,", """
                SELECT k.oid, k.conrelid,
                       CASE WHEN k.convalidated AND c.relkind = 'r'
                            THEN format('ALTER TABLE ONLY %I.%I VALIDATE CONSTRAINT %I', n.nspname, c.relname,
                                        k.conname) END AS validate,"""),
                rs -> new Constraint(rs.getLong(1), rs.getLong(2), rs.getString(4), rs.getString(5),
                        rs.getString(3)), "{f}")) {
            if (created.containsKey(k.table())) {
                List<String> ddl = k.validate() == null ? List.of(k.ddl())
                        : List.of(k.ddl() + " NOT VALID", k.validate());
                add(new CatalogObject(new Ref("pg_constraint", k.oid()), "foreign key", k.name(), Stage.AFTER_DATA,
                        ddl, Set.of()));
            }
        }
    }

    /**
     * Views and materialized views, before the data (a function may take a view's row type). Materialized views are
     * created empty: their data is computed from tables that are still being copied, so they are refreshed after the
     * cutover.
     */
    private void views() throws SQLException {
        record View(long oid, String name, String kind, String ddl, String shell) { }
        for (View v : Queries.list(c, """
                SELECT c.oid, format('%I.%I', n.nspname, c.relname), c.relkind::text,
                       CASE c.relkind
                         WHEN 'v' THEN format('CREATE VIEW %I.%I%s AS %s', n.nspname, c.relname,
                                              CASE WHEN c.reloptions IS NOT NULL
                                                   THEN ' WITH (' || array_to_string(c.reloptions, ', ') || ')'
                                                   ELSE '' END,
                                              pg_get_viewdef(c.oid))
                         ELSE format('CREATE MATERIALIZED VIEW %I.%I%s AS %s WITH NO DATA', n.nspname, c.relname,
                                     CASE WHEN c.reloptions IS NOT NULL
                                          THEN ' WITH (' || array_to_string(c.reloptions, ', ') || ')' ELSE '' END,
                                     rtrim(pg_get_viewdef(c.oid), ';'))
                       END,
                       format('CREATE VIEW %I.%I AS SELECT %s', n.nspname, c.relname,
                              (SELECT string_agg(format('NULL::%s AS %I', format_type(a.atttypid, a.atttypmod),
                                                        a.attname), ', ' ORDER BY a.attnum)
                               FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped))
                FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE c.relkind IN ('v', 'm') AND""" + USER_NAMESPACE + " AND "
                + notExtensionMember("pg_class", "c.oid") + " ORDER BY c.oid",
                rs -> new View(rs.getLong(1), rs.getString(2), rs.getString(3), rs.getString(4), rs.getString(5)))) {
            boolean plain = v.kind().equals("v");
            Ref ref = new Ref("pg_class", v.oid());
            add("pg_class", v.oid(), plain ? "view" : "materialized view", v.name(), Stage.BEFORE_DATA, v.ddl());
            if (plain) {
                viewShells.put(ref, v.shell());
            }
        }
    }

    private void statistics() throws SQLException {
        String target = "CASE WHEN x.stxstattarget IS NOT NULL AND x.stxstattarget >= 0"
                + " THEN format('; ALTER STATISTICS %I.%I SET STATISTICS %s', n.nspname, x.stxname, x.stxstattarget)"
                + " ELSE '' END";
        for (Row r : rows("SELECT x.oid, format('%I.%I', n.nspname, x.stxname), pg_get_statisticsobjdef(x.oid) || "
                + (major >= 13 ? target : "''") + """

                FROM pg_statistic_ext x JOIN pg_namespace n ON n.oid = x.stxnamespace
                WHERE""" + USER_NAMESPACE + " AND " + notExtensionMember("pg_statistic_ext", "x.oid")
                + " ORDER BY n.nspname, x.stxname")) {
            addStatements("pg_statistic_ext", r.oid(), "statistics object", r.name(), Stage.AFTER_DATA, r.ddl());
        }
    }

    private void triggers() throws SQLException {
        String topLevel = major >= 13 ? "t.tgparentid = 0" : "true";
        for (OnTable r : onTables("""
                SELECT t.oid, c.oid, format('%I.%I.%I', n.nspname, c.relname, t.tgname),
                       pg_get_triggerdef(t.oid)
                       || CASE t.tgenabled
                              WHEN 'D' THEN format('; ALTER TABLE %I.%I DISABLE TRIGGER %I', n.nspname, c.relname,
                                                   t.tgname)
                              WHEN 'R' THEN format('; ALTER TABLE %I.%I ENABLE REPLICA TRIGGER %I', n.nspname,
                                                   c.relname, t.tgname)
                              WHEN 'A' THEN format('; ALTER TABLE %I.%I ENABLE ALWAYS TRIGGER %I', n.nspname,
                                                   c.relname, t.tgname)
                              ELSE '' END
                FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE NOT t.tgisinternal AND t.tgname NOT LIKE 'pgmigrate\\_%' AND""" + " " + topLevel + " AND"
                + USER_NAMESPACE + " AND " + notExtensionMember("pg_class", "c.oid")
                + " ORDER BY n.nspname, c.relname, t.tgname")) {
            if (has(new Ref("pg_class", r.table()))) {
                addStatements("pg_trigger", r.oid(), "trigger", r.name(), Stage.AFTER_DATA, r.ddl());
            }
        }
    }

    /** Event triggers act on the whole database, so they are not copied (they are reported). */
    private void eventTriggers() throws SQLException {
        for (String name : Queries.list(c, "SELECT format('%I', evtname) FROM pg_event_trigger"
                + " WHERE evtname NOT LIKE 'pgmigrate\\_%' AND " + notExtensionMember("pg_event_trigger", "oid")
                + " ORDER BY 1", rs -> rs.getString(1))) {
            notCopied.add("event trigger " + name + ": event triggers act on every session of the database and are"
                    + " not copied; create it on the target after the cutover if it is still wanted");
        }
    }

    private void rules() throws SQLException {
        for (OnTable r : onTables("""
                SELECT r.oid, c.oid, format('%I.%I.%I', n.nspname, c.relname, r.rulename), pg_get_ruledef(r.oid)
                FROM pg_rewrite r JOIN pg_class c ON c.oid = r.ev_class JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE r.rulename <> '_RETURN' AND""" + USER_NAMESPACE + " AND " + notExtensionMember("pg_class", "c.oid")
                + " ORDER BY n.nspname, c.relname, r.rulename")) {
            if (has(new Ref("pg_class", r.table()))) {
                add("pg_rewrite", r.oid(), "rule", r.name(), Stage.AFTER_DATA, r.ddl());
            }
        }
    }

    private void rowLevelSecurity() throws SQLException {
        for (Row r : rows("""
                SELECT c.oid, format('%I.%I', n.nspname, c.relname),
                       format('ALTER TABLE %I.%I ENABLE ROW LEVEL SECURITY', n.nspname, c.relname)
                       || CASE WHEN c.relforcerowsecurity
                               THEN format('; ALTER TABLE %I.%I FORCE ROW LEVEL SECURITY', n.nspname, c.relname)
                               ELSE '' END
                FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE c.relrowsecurity AND""" + USER_NAMESPACE + " AND " + notExtensionMember("pg_class", "c.oid")
                + " ORDER BY n.nspname, c.relname")) {
            Ref table = new Ref("pg_class", r.oid());
            if (created.containsKey(r.oid())) {
                add(new CatalogObject(Ref.extra("row level security", table), "row level security",
                        r.name(), Stage.AFTER_DATA, List.of(r.ddl().split("; ")), Set.of(table)));
            }
        }
        for (OnTable r : onTables("""
                SELECT p.oid, c.oid, format('%I.%I.%I', n.nspname, c.relname, p.polname),
                       format('CREATE POLICY %I ON %I.%I AS %s FOR %s TO %s%s%s', p.polname, n.nspname, c.relname,
                              CASE WHEN p.polpermissive THEN 'PERMISSIVE' ELSE 'RESTRICTIVE' END,
                              CASE p.polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT' WHEN 'w' THEN 'UPDATE'
                                            WHEN 'd' THEN 'DELETE' ELSE 'ALL' END,
                              CASE WHEN p.polroles = '{0}' THEN 'PUBLIC'
                                   ELSE (SELECT string_agg(quote_ident(pg_get_userbyid(r)), ', ' ORDER BY 1)
                                         FROM unnest(p.polroles) r) END,
                              CASE WHEN p.polqual IS NOT NULL
                                   THEN ' USING (' || pg_get_expr(p.polqual, p.polrelid) || ')' ELSE '' END,
                              CASE WHEN p.polwithcheck IS NOT NULL
                                   THEN ' WITH CHECK (' || pg_get_expr(p.polwithcheck, p.polrelid) || ')' ELSE '' END)
                FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE""" + USER_NAMESPACE + " ORDER BY n.nspname, c.relname, p.polname")) {
            if (created.containsKey(r.table())) {
                add("pg_policy", r.oid(), "policy", r.name(), Stage.AFTER_DATA, r.ddl());
            }
        }
    }

    /** Every table's replica identity other than the default, partitions included. */
    private void replicaIdentity() throws SQLException {
        record Identity(long oid, String name, String ddl, Long index) { }
        for (Identity r : Queries.list(c, """
                SELECT c.oid, format('%I.%I', n.nspname, c.relname),
                       format('ALTER TABLE ONLY %I.%I REPLICA IDENTITY ', n.nspname, c.relname)
                       || CASE c.relreplident WHEN 'f' THEN 'FULL' WHEN 'n' THEN 'NOTHING'
                          ELSE format('USING INDEX %I', ic.relname) END,
                       ic.oid
                FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                LEFT JOIN pg_index i ON c.relreplident = 'i' AND i.indrelid = c.oid AND i.indisreplident
                LEFT JOIN pg_class ic ON ic.oid = i.indexrelid
                WHERE c.relkind IN ('r', 'p') AND c.relreplident IN ('f', 'n', 'i') AND""" + USER_NAMESPACE
                + " ORDER BY n.nspname, c.relname", rs -> new Identity(rs.getLong(1), rs.getString(2),
                rs.getString(3), (Long) rs.getObject(4)))) {
            if (!created.containsKey(r.oid()) || r.ddl() == null) {
                continue; // an index gone as replica identity: the default
            }
            Ref table = new Ref("pg_class", r.oid());
            Set<Ref> needs = r.index() == null ? Set.of(table) : Set.of(table, new Ref("pg_class", r.index()));
            add(new CatalogObject(Ref.extra("replica identity", table), "replica identity", r.name(),
                    Stage.AFTER_DATA, List.of(r.ddl()), needs));
        }
    }

    /** The COMMENT keyword of each kind of object the copy creates, by pg_identify_object's type. */
    private static final String COMMENT_KINDS = " " + """
            CASE i.type
              WHEN 'table column' THEN 'COLUMN' WHEN 'view column' THEN 'COLUMN'
              WHEN 'materialized view column' THEN 'COLUMN' WHEN 'composite type column' THEN 'COLUMN'
              WHEN 'table constraint' THEN 'CONSTRAINT' WHEN 'domain constraint' THEN 'CONSTRAINT'
              WHEN 'composite type' THEN 'TYPE' WHEN 'statistics object' THEN 'STATISTICS'
              WHEN 'table' THEN 'TABLE' WHEN 'view' THEN 'VIEW' WHEN 'materialized view' THEN 'MATERIALIZED VIEW'
              WHEN 'index' THEN 'INDEX' WHEN 'sequence' THEN 'SEQUENCE' WHEN 'schema' THEN 'SCHEMA'
              WHEN 'type' THEN 'TYPE' WHEN 'domain' THEN 'DOMAIN' WHEN 'function' THEN 'FUNCTION'
              WHEN 'procedure' THEN 'PROCEDURE' WHEN 'aggregate' THEN 'AGGREGATE' WHEN 'trigger' THEN 'TRIGGER'
              WHEN 'rule' THEN 'RULE' WHEN 'policy' THEN 'POLICY' WHEN 'collation' THEN 'COLLATION'
              WHEN 'conversion' THEN 'CONVERSION' WHEN 'operator' THEN 'OPERATOR' WHEN 'cast' THEN 'CAST'
              WHEN 'operator class' THEN 'OPERATOR CLASS' WHEN 'operator family' THEN 'OPERATOR FAMILY'
              WHEN 'text search configuration' THEN 'TEXT SEARCH CONFIGURATION'
              WHEN 'text search dictionary' THEN 'TEXT SEARCH DICTIONARY'
            END""";

    /** The name of an object in COMMENT or SECURITY LABEL, from pg_identify_object. */
    private static final String COMMENT_NAME = """
            CASE WHEN i.type IN ('table constraint', 'trigger', 'rule', 'policy')
                 THEN regexp_replace(i.identity, '^(.*) on (.*)$', '\\1 ON \\2')
                 WHEN i.type = 'domain constraint'
                 THEN regexp_replace(i.identity, '^(.*) on (.*)$', '\\1 ON DOMAIN \\2')
                 WHEN i.type = 'cast' THEN i.identity
                 WHEN i.type = 'aggregate' AND i.identity ~ '\\(\\)$' THEN regexp_replace(i.identity, '\\(\\)$', '(*)')
                 ELSE i.identity END""";

    /** A statement about another object (a comment, a security label), named by its catalog and oid. */
    private record About(String catalog, long oid, String name, String ddl) { }

    /** Comments on every kind of object the copy creates, after everything else. */
    private void comments() throws SQLException {
        for (About r : Queries.list(c, """
                SELECT d.classoid::regclass::text, d.objoid, o.kind || ' ' || o.name,
                       format('COMMENT ON %s %s IS %L', o.kind, o.name, d.description)
                FROM pg_description d
                CROSS JOIN LATERAL pg_identify_object(d.classoid, d.objoid, d.objsubid) i
                CROSS JOIN LATERAL (SELECT """ + COMMENT_KINDS + " AS kind, " + COMMENT_NAME + """
                 AS name) o
                WHERE o.kind IS NOT NULL AND d.objoid >= 16384
                  AND coalesce(i.schema, CASE WHEN i.type = 'schema' THEN i.identity END, 'x')
                      NOT IN ('pg_catalog', 'information_schema')
                  AND coalesce(i.schema, CASE WHEN i.type = 'schema' THEN i.identity END, 'x') NOT LIKE 'pg\\_%'
                  AND coalesce(i.schema, CASE WHEN i.type = 'schema' THEN i.identity END, 'x') NOT LIKE 'pgmigrate\\_%'
                  AND NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = d.classoid AND e.objid = d.objoid
                                  AND e.deptype = 'e')
                ORDER BY 3
                """, rs -> new About(rs.getString(1), rs.getLong(2), rs.getString(3), rs.getString(4)))) {
            // Only on what the copy creates (a comment on a foreign table would fail), once it exists.
            add(new CatalogObject(new Ref("[comment " + r.name() + "]", r.oid()), "comment", r.name(),
                    Stage.AFTER_DATA, List.of(r.ddl()), Set.of(new Ref(r.catalog(), r.oid()))));
        }
        // A comment on the public schema is the user's (its owner may change it).
        for (String ddl : Queries.list(c, "SELECT format('COMMENT ON SCHEMA public IS %L', d.description)"
                + " FROM pg_description d JOIN pg_namespace n ON n.oid = d.objoid"
                + " WHERE d.classoid = 'pg_namespace'::regclass AND n.nspname = 'public'"
                + " AND d.description IS DISTINCT FROM 'standard public schema'", rs -> rs.getString(1))) {
            add(new CatalogObject(new Ref("[comment] public", 0), "comment", "schema public",
                    Stage.AFTER_DATA, List.of(ddl), Set.of()));
        }
    }

    /** Security labels need their provider loaded on the target; a copy fails clearly when it is not. */
    private void securityLabels() throws SQLException {
        for (About r : Queries.list(c, """
                SELECT s.classoid::regclass::text, s.objoid, o.kind || ' ' || o.name,
                       format('SECURITY LABEL FOR %I ON %s %s IS %L', s.provider, o.kind, o.name, s.label)
                FROM pg_seclabel s
                CROSS JOIN LATERAL pg_identify_object(s.classoid, s.objoid, s.objsubid) i
                CROSS JOIN LATERAL (SELECT """ + COMMENT_KINDS + " AS kind, " + COMMENT_NAME + """
                 AS name) o
                WHERE o.kind IS NOT NULL AND s.objoid >= 16384
                ORDER BY 3
                """, rs -> new About(rs.getString(1), rs.getLong(2), rs.getString(3), rs.getString(4)))) {
            add(new CatalogObject(new Ref("[security label " + r.name() + "]", r.oid()), "security label",
                    r.name(), Stage.AFTER_DATA, List.of(r.ddl()), Set.of(new Ref(r.catalog(), r.oid()))));
        }
    }

    /**
     * {@code ALTER DATABASE ... SET}: an application's functions may rely on a database's {@code search_path}. Settings
     * of a role in the database come along with owners and grants (the roles must exist).
     */
    private void databaseSettings() throws SQLException {
        String database = Queries.string(c, "SELECT current_database()");
        record Setting(String role, String setting) { }
        for (Setting s : Queries.list(c, """
                SELECT CASE WHEN r.setrole = 0 THEN NULL ELSE pg_get_userbyid(r.setrole) END, x
                FROM pg_db_role_setting r CROSS JOIN LATERAL unnest(r.setconfig) WITH ORDINALITY AS u(x, i)
                WHERE r.setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())
                ORDER BY r.setrole, u.i
                """, rs -> new Setting(rs.getString(1), rs.getString(2)))) {
            int eq = s.setting().indexOf('=');
            String name = s.setting().substring(0, eq);
            String value = s.setting().substring(eq + 1);
            if (s.role() != null && !ownershipAndGrants) {
                notCopied.add("setting " + name + " of role " + s.role() + " in the database: settings of roles"
                        + " come along with ownershipAndGrants(true)");
                continue;
            }
            String target = s.role() == null ? "ALTER DATABASE " + quote(database)
                    : "ALTER ROLE " + quote(s.role()) + " IN DATABASE " + quote(database);
            String ddl = target + " SET " + quote(name) + " TO " + settingValue(name, value);
            add(new CatalogObject(new Ref("[setting " + (s.role() == null ? "" : s.role() + " ") + name + "]",
                    0), "database setting", name, Stage.AFTER_DATA, List.of(ddl), Set.of()));
        }
    }

    /** A setting's value as SQL: a list setting element by element (each one quoted), others as one literal. */
    static String settingValue(String name, String value) {
        if (!LIST_SETTINGS.contains(name)) {
            return literal(value);
        }
        List<String> elements = new ArrayList<>();
        StringBuilder cur = new StringBuilder();
        boolean quoted = false;
        for (int i = 0; i < value.length(); i++) {
            char ch = value.charAt(i);
            if (ch == '"') {
                if (quoted && i + 1 < value.length() && value.charAt(i + 1) == '"') {
                    cur.append('"');
                    i++;
                } else {
                    quoted = !quoted;
                }
            } else if (ch == ',' && !quoted) {
                elements.add(cur.toString().strip());
                cur.setLength(0);
            } else {
                cur.append(ch);
            }
        }
        elements.add(cur.toString().strip());
        return String.join(", ", elements.stream().map(e -> literal(e)).toList());
    }

    private void ownersAndGrants() throws SQLException {
        List<String> ddl = new ArrayList<>(Queries.list(c, CatalogSchema.GRANTS, rs -> rs.getString(1)));
        ddl.addAll(Queries.list(c, CatalogSchema.OWNERS, rs -> rs.getString(1)));
        if (!ddl.isEmpty()) {
            add(new CatalogObject(new Ref("[owners and grants]", 0), "owners and grants", "every object",
                    Stage.AFTER_DATA, ddl, Set.of()));
        }
    }

    /** {@code ALTER DEFAULT PRIVILEGES}, as the source has them. */
    private void defaultPrivileges() throws SQLException {
        List<String> ddl = Queries.list(c, """
                SELECT s FROM (
                    -- A global entry replaces the built-in defaults: start from none.
                    SELECT 0 AS step, d.oid, format('ALTER DEFAULT PRIVILEGES FOR ROLE %I REVOKE ALL ON %s FROM PUBLIC',
                           pg_get_userbyid(d.defaclrole), k.kind) AS s
                    FROM pg_default_acl d CROSS JOIN LATERAL (SELECT CASE d.defaclobjtype WHEN 'r' THEN 'TABLES'
                         WHEN 'S' THEN 'SEQUENCES' WHEN 'f' THEN 'FUNCTIONS' WHEN 'T' THEN 'TYPES'
                         ELSE 'SCHEMAS' END AS kind) k
                    WHERE d.defaclnamespace = 0
                    UNION ALL
                    SELECT 1, d.oid, format('ALTER DEFAULT PRIVILEGES FOR ROLE %I REVOKE ALL ON %s FROM %I',
                           pg_get_userbyid(d.defaclrole), k.kind, pg_get_userbyid(d.defaclrole))
                    FROM pg_default_acl d CROSS JOIN LATERAL (SELECT CASE d.defaclobjtype WHEN 'r' THEN 'TABLES'
                         WHEN 'S' THEN 'SEQUENCES' WHEN 'f' THEN 'FUNCTIONS' WHEN 'T' THEN 'TYPES'
                         ELSE 'SCHEMAS' END AS kind) k
                    WHERE d.defaclnamespace = 0
                    UNION ALL
                    SELECT 2, d.oid, format('ALTER DEFAULT PRIVILEGES FOR ROLE %I%s GRANT %s ON %s TO %s%s',
                           pg_get_userbyid(d.defaclrole),
                           CASE WHEN d.defaclnamespace = 0 THEN ''
                                ELSE format(' IN SCHEMA %I', (SELECT nspname FROM pg_namespace
                                                               WHERE oid = d.defaclnamespace)) END,
                           a.privilege_type, k.kind,
                           CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END,
                           CASE WHEN a.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END)
                    FROM pg_default_acl d CROSS JOIN LATERAL aclexplode(d.defaclacl) a
                    CROSS JOIN LATERAL (SELECT CASE d.defaclobjtype WHEN 'r' THEN 'TABLES'
                         WHEN 'S' THEN 'SEQUENCES' WHEN 'f' THEN 'FUNCTIONS' WHEN 'T' THEN 'TYPES'
                         ELSE 'SCHEMAS' END AS kind) k
                ) x
                ORDER BY oid, step, s
                """, rs -> rs.getString(1));
        if (!ddl.isEmpty()) {
            add(new CatalogObject(new Ref("[default privileges]", 0), "default privileges", "every role",
                    Stage.AFTER_DATA, ddl, Set.of()));
        }
    }
}
