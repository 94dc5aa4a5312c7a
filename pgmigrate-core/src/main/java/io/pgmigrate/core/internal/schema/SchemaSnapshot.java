package io.pgmigrate.core.internal.schema;

import io.pgmigrate.core.internal.sql.Queries;

import java.sql.Connection;
import java.sql.SQLException;
import java.util.Collections;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.regex.Pattern;

/**
 * The user-defined objects of one database, each as its normalized definition text, read from the catalog with
 * PostgreSQL's own {@code pg_get_*def}, {@code format_type} and {@code pg_get_expr} functions. Covers schemas,
 * extensions, types (enum, domain, composite, range), sequences, tables (columns, persistence, partitioning), constraints,
 * indexes, views, materialized views, functions and procedures, triggers, event triggers, rules, policies and comments.
 * System schemas, extension members, the migration's own {@code pgmigrate_*} schemas and {@code pgmigrate_*} triggers
 * are left out; so are owners, privileges, statistics and the current values of sequences.
 *
 * @param objects every object's definition by its key, in key order
 */
public record SchemaSnapshot(SortedMap<Key, String> objects) {

    /**
     * What identifies one object within a database.
     *
     * @param type the kind of object ({@code table}, {@code index}, ...)
     * @param name its qualified name as {@code format('%I')} prints it
     */
    public record Key(String type, String name) implements Comparable<Key> {

        public Key {
            Objects.requireNonNull(type, "type");
            Objects.requireNonNull(name, "name");
        }

        @Override
        public int compareTo(Key o) {
            int c = type.compareTo(o.type);
            return c != 0 ? c : name.compareTo(o.name);
        }
    }

    private static final Pattern WHITESPACE = Pattern.compile("\\s+");

    // Plain strings with surrounding spaces: text blocks strip the trailing space they are concatenated after.
    /** Objects in system schemas, temporary and TOAST schemas and the migration's own schemas are never compared. */
    private static final String USER_NAMESPACE = " n.nspname NOT IN ('pg_catalog', 'information_schema')"
            + " AND n.nspname NOT LIKE 'pg\\_%' AND n.nspname NOT LIKE 'pgmigrate\\_%' ";

    public SchemaSnapshot {
        objects = Collections.unmodifiableSortedMap(new TreeMap<>(objects));
    }

    /**
     * One definition as it is compared: surrounding whitespace removed, every run of whitespace (including line
     * breaks) made one space, so layout differences between majors and between how the objects were typed do not
     * count.
     */
    static String normalize(String definition) {
        if (definition == null) {
            return "";
        }
        return unquote(WHITESPACE.matcher(definition.strip()).replaceAll(" "));
    }

    /**
     * Reads the catalog of the database {@code c} is connected to. The session's {@code search_path} is set to
     * {@code pg_catalog} while reading, so that every definition names user objects with their schema whatever the
     * caller's setting, and restored afterwards.
     */
    public static SchemaSnapshot read(Connection c) throws SQLException {
        String searchPath = Queries.string(c, "SELECT current_setting('search_path')");
        Queries.string(c, "SELECT set_config('search_path', 'pg_catalog', false)");
        SQLException failure = null;
        try {
            return readCatalog(c);
        } catch (SQLException e) {
            failure = e;
            throw e;
        } finally {
            try {
                Queries.string(c, "SELECT set_config('search_path', ?, false)", searchPath);
            } catch (SQLException e) {
                // In an aborted transaction the setting is rolled back with it; the first failure is the one to report.
                if (failure != null) {
                    failure.addSuppressed(e);
                } else {
                    throw e;
                }
            }
        }
    }

    private static SchemaSnapshot readCatalog(Connection c) throws SQLException {
        record Definition(Key key, String text) { }
        SortedMap<Key, String> objects = new TreeMap<>();
        int major = c.getMetaData().getDatabaseMajorVersion();
        boolean before16 = major < 16;
        // PostgreSQL 12 has no tgparentid; it marks the triggers it clones onto partitions internal.
        String triggers = major >= 13 ? TRIGGERS : TRIGGERS.replace("g.tgparentid = 0", "true");
        for (String sql : List.of(SCHEMAS, EXTENSIONS, TYPES, SEQUENCES, TABLES, CONSTRAINTS, INDEXES, VIEWS,
                FUNCTIONS, triggers, EVENT_TRIGGERS, RULES, POLICIES, COMMENTS)) {
            for (Definition row : Queries.list(c, sql,
                    rs -> new Definition(new Key(rs.getString(1), rs.getString(2)), rs.getString(3)))) {
                Key key = new Key(row.key().type(), unquote(row.key().name()));
                String definition = normalize(row.text());
                if (key.type().equals("procedure")) {
                    // 14 began printing a procedure's input arguments with their mode: (IN month date).
                    key = new Key(key.type(), PROCEDURE_IN.matcher(key.name()).replaceAll("$1"));
                    int body = definition.indexOf(" LANGUAGE ");
                    if (body > 0) {
                        definition = PROCEDURE_IN.matcher(definition.substring(0, body)).replaceAll("$1")
                                + definition.substring(body);
                    }
                }
                if (before16 && sql == VIEWS) {
                    definition = unqualifySingleRelation(definition);
                }
                String previous = objects.put(key, definition);
                if (previous != null) {
                    throw new IllegalStateException("two catalog objects read as " + key.type() + " " + key.name());
                }
            }
        }
        for (CatalogObject o : new CatalogReader(c, false, Set.of()).readForComparison()) {
            Key key = new Key(o.kind(), unquote(o.name()));
            String previous = objects.put(key, normalize(String.join("; ", o.ddl())));
            if (previous != null) {
                throw new IllegalStateException("two catalog objects read as " + key.type() + " " + key.name());
            }
        }
        return new SchemaSnapshot(objects);
    }

    /** The IN of a procedure's argument, which 14 and later print and 13 does not. */
    private static final Pattern PROCEDURE_IN = Pattern.compile("([(]|, )IN ");

    private static final Pattern QUOTED_PLAIN = Pattern.compile("\"([a-z_][a-z0-9_$]*)\"");

    /**
     * A name or definition without the quotes around plain lower-case names: majors quote different words (a
     * parameter called {@code json} is printed bare by 14 and quoted by 18, which made it a keyword), and
     * {@code "json"} and {@code json} are the same name.
     */
    static String unquote(String text) {
        return QUOTED_PLAIN.matcher(text).replaceAll("$1");
    }

    /**
     * A view definition of a server before 16 in the form 16 and later print it. Up to 15 a view's query carried two
     * extra range-table entries (OLD and NEW), so {@code pg_get_viewdef} qualified every column with its relation even
     * when the query reads a single one ({@code SELECT orders.id FROM app.orders}); from 16 on they are gone and such
     * columns print bare ({@code SELECT id FROM app.orders}). Only that one case is rewritten: one query level (no
     * subquery, set operation or join), one relation in FROM. Anything else is returned as it is, so a difference the
     * rewrite cannot prove harmless is still reported.
     */
    static String unqualifySingleRelation(String definition) {
        int from = definition.indexOf(" FROM ");
        if (from < 0 || from != definition.lastIndexOf(" FROM ")
                || definition.indexOf("SELECT ") != definition.lastIndexOf("SELECT ")
                || definition.contains(" JOIN ") || definition.contains(" UNION ")
                || definition.contains(" INTERSECT ") || definition.contains(" EXCEPT ")) {
            return definition;
        }
        int p = from + " FROM ".length();
        if (definition.startsWith("ONLY ", p)) {
            p += "ONLY ".length();
        }
        // The relation: identifiers separated by dots; the last one is its reference name unless an alias follows.
        String reference = null;
        while (true) {
            int end = identifierEnd(definition, p);
            if (end == p) {
                return definition;
            }
            reference = definition.substring(p, end);
            p = end;
            if (p < definition.length() && definition.charAt(p) == '.') {
                p++;
            } else {
                break;
            }
        }
        int relationEnd = p;
        if (p < definition.length() && definition.charAt(p) == ' ') {
            int end = identifierEnd(definition, p + 1);
            String next = definition.substring(p + 1, end);
            if (end > p + 1 && !CLAUSE_KEYWORDS.contains(next)) {
                reference = next;
                relationEnd = end;
            }
        }
        if (relationEnd < definition.length() && ",(".indexOf(definition.charAt(relationEnd)) >= 0) {
            return definition;
        }
        String prefix = reference + ".";
        StringBuilder out = new StringBuilder(definition.length());
        boolean inLiteral = false;
        for (int i = 0; i < definition.length(); i++) {
            char ch = definition.charAt(i);
            if (ch == '\'') {
                inLiteral = !inLiteral;
            }
            boolean boundary = i == 0 || !isIdentifierPart(definition.charAt(i - 1));
            if (!inLiteral && boundary && (i < from || i >= relationEnd) && definition.startsWith(prefix, i)
                    && i + prefix.length() < definition.length()
                    && (isIdentifierPart(definition.charAt(i + prefix.length()))
                        || definition.charAt(i + prefix.length()) == '"')) {
                i += prefix.length() - 1;
                continue;
            }
            out.append(ch);
        }
        return out.toString();
    }

    private static final Set<String> CLAUSE_KEYWORDS = Set.of("WHERE", "GROUP", "HAVING",
            "WINDOW", "ORDER", "LIMIT", "OFFSET", "FETCH", "FOR", "TABLESAMPLE");

    private static boolean isIdentifierPart(char ch) {
        return Character.isLetterOrDigit(ch) || ch == '_' || ch == '$' || ch == '"' || ch == '.';
    }

    /** The end of the identifier (quoted or bare) starting at {@code start}, or {@code start} if there is none. */
    private static int identifierEnd(String s, int start) {
        if (start >= s.length()) {
            return start;
        }
        if (s.charAt(start) == '"') {
            int i = start + 1;
            while (i < s.length()) {
                if (s.charAt(i) == '"') {
                    if (i + 1 < s.length() && s.charAt(i + 1) == '"') {
                        i += 2;
                        continue;
                    }
                    return i + 1;
                }
                i++;
            }
            return start;
        }
        int i = start;
        while (i < s.length() && (Character.isLetterOrDigit(s.charAt(i)) || s.charAt(i) == '_'
                || s.charAt(i) == '$')) {
            i++;
        }
        return i;
    }

    private static String notExtensionMember(String catalog, String oid) {
        return " NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = '" + catalog + "'::regclass AND e.objid = "
                + oid + " AND e.deptype = 'e') ";
    }

    private static final String SCHEMAS = """
            SELECT 'schema', format('%I', n.nspname), format('SCHEMA %I', n.nspname)
            FROM pg_namespace n
            WHERE""" + USER_NAMESPACE + " AND " + notExtensionMember("pg_namespace", "n.oid");

    // The version is left out on purpose: a newer server usually ships a newer version of the same extension.
    private static final String EXTENSIONS = """
            SELECT 'extension', format('%I', x.extname), format('EXTENSION %I WITH SCHEMA %I', x.extname, n.nspname)
            FROM pg_extension x JOIN pg_namespace n ON n.oid = x.extnamespace
            """;

    // Multirange and array types come with their range or element type and are not compared on their own. Domain
    // NOT NULL is read from typnotnull: from 17 on it is also a pg_constraint row (contype 'n') with a generated name.
    private static final String TYPES = """
            SELECT 'type', format('%I.%I', n.nspname, t.typname),
                   CASE t.typtype
                   WHEN 'e' THEN 'ENUM (' || coalesce((SELECT string_agg(quote_literal(e.enumlabel), ', '
                                                                          ORDER BY e.enumsortorder)
                                                       FROM pg_enum e WHERE e.enumtypid = t.oid), '') || ')'
                   WHEN 'd' THEN 'DOMAIN AS ' || format_type(t.typbasetype, t.typtypmod)
                        || CASE WHEN t.typcollation <> 0 AND t.typcollation <> bt.typcollation
                                THEN (SELECT format(' COLLATE %I.%I', cn.nspname, co.collname)
                                      FROM pg_collation co JOIN pg_namespace cn ON cn.oid = co.collnamespace
                                      WHERE co.oid = t.typcollation) ELSE '' END
                        || CASE WHEN t.typdefaultbin IS NOT NULL
                                THEN ' DEFAULT ' || pg_get_expr(t.typdefaultbin, 0) ELSE '' END
                        || CASE WHEN t.typnotnull THEN ' NOT NULL' ELSE '' END
                        || coalesce((SELECT string_agg(format(' CONSTRAINT %I %s', k.conname,
                                                              pg_get_constraintdef(k.oid)), '' ORDER BY k.conname)
                                     FROM pg_constraint k WHERE k.contypid = t.oid AND k.contype <> 'n'), '')
                   WHEN 'c' THEN 'COMPOSITE (' || coalesce(""" + CatalogSchema.COMPOSITE_ATTRIBUTES + """
                            , '') || ')'
                   WHEN 'r' THEN (SELECT 'RANGE (SUBTYPE = ' || format_type(r.rngsubtype, NULL)
                                         || format(', SUBTYPE_OPCLASS = %I.%I', ocn.nspname, oc.opcname)
                                         || CASE WHEN r.rngcollation <> 0
                                                 THEN format(', COLLATION = %I.%I', cn.nspname, co.collname)
                                                 ELSE '' END
                                         || CASE WHEN r.rngcanonical <> 0
                                                 THEN ', CANONICAL = ' || r.rngcanonical::regproc::text ELSE '' END
                                         || CASE WHEN r.rngsubdiff <> 0
                                                 THEN ', SUBTYPE_DIFF = ' || r.rngsubdiff::regproc::text ELSE '' END
                                         || ')'
                                  FROM pg_range r JOIN pg_opclass oc ON oc.oid = r.rngsubopc
                                  JOIN pg_namespace ocn ON ocn.oid = oc.opcnamespace
                                  LEFT JOIN pg_collation co ON co.oid = r.rngcollation
                                  LEFT JOIN pg_namespace cn ON cn.oid = co.collnamespace
                                  WHERE r.rngtypid = t.oid)
                   END
            FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
            LEFT JOIN pg_type bt ON bt.oid = t.typbasetype
            WHERE t.typtype IN ('e', 'd', 'c', 'r')
              AND (t.typtype <> 'c' OR (SELECT c.relkind FROM pg_class c WHERE c.oid = t.typrelid) = 'c')
              AND""" + USER_NAMESPACE + " AND " + notExtensionMember("pg_type", "t.oid");

    // The current value (last_value, is_called) is data, not schema, and is never compared.
    private static final String SEQUENCES = """
            SELECT 'sequence', format('%I.%I', n.nspname, c.relname),
                   format('SEQUENCE AS %s INCREMENT BY %s MINVALUE %s MAXVALUE %s START WITH %s CACHE %s %s',
                          format_type(s.seqtypid, NULL), s.seqincrement, s.seqmin, s.seqmax, s.seqstart, s.seqcache,
                          CASE WHEN s.seqcycle THEN 'CYCLE' ELSE 'NO CYCLE' END)
                   || CASE WHEN c.relpersistence = 'u' THEN ' UNLOGGED' ELSE '' END
                   || coalesce((SELECT format(' OWNED BY %I.%I.%I%s', tn.nspname, t.relname, a.attname,
                                              CASE WHEN d.deptype = 'i' THEN ' (identity)' ELSE '' END)
                                FROM pg_depend d JOIN pg_class t ON t.oid = d.refobjid
                                JOIN pg_namespace tn ON tn.oid = t.relnamespace
                                JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
                                WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                                  AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
                                LIMIT 1), '')
            FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE""" + USER_NAMESPACE + " AND " + notExtensionMember("pg_class", "c.oid");

    // One definition per table: columns in attribute order, then what belongs to the table as a whole. Constraints,
    // indexes, triggers, rules and policies are objects of their own, so a difference names them precisely.
    private static final String TABLES = """
            SELECT CASE c.relkind WHEN 'f' THEN 'foreign table' ELSE 'table' END,
                   format('%I.%I', n.nspname, c.relname),
                   CASE c.relpersistence WHEN 'u' THEN 'UNLOGGED ' WHEN 't' THEN 'TEMPORARY ' ELSE '' END
                   || CASE c.relkind WHEN 'f' THEN 'FOREIGN TABLE (' ELSE 'TABLE (' END
                   || coalesce((
                        SELECT string_agg(
                            format('%I %s', a.attname, format_type(a.atttypid, a.atttypmod))
                            || CASE WHEN a.attcollation <> 0 AND a.attcollation <> at.typcollation
                                    THEN format(' COLLATE %I.%I', cn.nspname, co.collname) ELSE '' END
                            || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END
                            || CASE WHEN a.attgenerated = 's'
                                    THEN format(' GENERATED ALWAYS AS (%s) STORED', pg_get_expr(d.adbin, d.adrelid))
                                    WHEN a.attgenerated = 'v'
                                    THEN format(' GENERATED ALWAYS AS (%s) VIRTUAL', pg_get_expr(d.adbin, d.adrelid))
                                    WHEN d.adbin IS NOT NULL
                                    THEN ' DEFAULT ' || pg_get_expr(d.adbin, d.adrelid) ELSE '' END
                            || CASE a.attidentity WHEN 'a' THEN ' GENERATED ALWAYS AS IDENTITY'
                                                  WHEN 'd' THEN ' GENERATED BY DEFAULT AS IDENTITY' ELSE '' END,
                            ', ' ORDER BY a.attnum)
                        FROM pg_attribute a JOIN pg_type at ON at.oid = a.atttypid
                        LEFT JOIN pg_collation co ON co.oid = a.attcollation
                        LEFT JOIN pg_namespace cn ON cn.oid = co.collnamespace
                        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
                        WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), '') || ')'
                   || coalesce((SELECT ' INHERITS (' || string_agg(format('%I.%I', pn.nspname, p.relname), ', '
                                                                   ORDER BY i.inhseqno) || ')'
                                FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent
                                JOIN pg_namespace pn ON pn.oid = p.relnamespace
                                WHERE i.inhrelid = c.oid AND NOT c.relispartition), '')
                   || CASE WHEN c.relispartition
                           THEN (SELECT format(' PARTITION OF %I.%I ', pn.nspname, p.relname)
                                 FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent
                                 JOIN pg_namespace pn ON pn.oid = p.relnamespace WHERE i.inhrelid = c.oid)
                                || pg_get_expr(c.relpartbound, c.oid)
                           ELSE '' END
                   || CASE WHEN c.relkind = 'p' THEN ' PARTITION BY ' || pg_get_partkeydef(c.oid) ELSE '' END
                   || CASE WHEN am.amname IS NOT NULL AND am.amname <> 'heap'
                           THEN format(' USING %I', am.amname) ELSE '' END
                   || CASE WHEN c.reloptions IS NOT NULL
                           THEN ' WITH (' || array_to_string(c.reloptions, ', ') || ')' ELSE '' END
                   || CASE WHEN c.relrowsecurity THEN ' ROW LEVEL SECURITY' ELSE '' END
                   || CASE WHEN c.relforcerowsecurity THEN ' FORCE ROW LEVEL SECURITY' ELSE '' END
                   || CASE c.relreplident WHEN 'f' THEN ' REPLICA IDENTITY FULL'
                                          WHEN 'n' THEN ' REPLICA IDENTITY NOTHING'
                                          WHEN 'i' THEN ' REPLICA IDENTITY USING INDEX' ELSE '' END
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            LEFT JOIN pg_am am ON am.oid = c.relam
            WHERE c.relkind IN ('r', 'p', 'f') AND""" + USER_NAMESPACE + " AND "
            + notExtensionMember("pg_class", "c.oid");

    // Constraints cloned from a parent's constraint (conparentid: partitions, and from 17 on the extra rows a foreign
    // key gets per referenced partition) are covered by the parent's. NOT NULL is a column property: from 18 on it is
    // also a pg_constraint row (contype 'n') with a generated name, which 14 does not have.
    private static final String CONSTRAINTS = """
            SELECT 'constraint', format('%I.%I.%I', n.nspname, c.relname, k.conname), pg_get_constraintdef(k.oid)
            FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE k.contype <> 'n' AND k.conparentid = 0 AND""" + USER_NAMESPACE + " AND "
            + notExtensionMember("pg_class", "c.oid");

    // Indexes that implement a primary key, unique or exclusion constraint are compared as that constraint. A
    // partition's index names the partitioned table's index it is attached to; an invalid one says so.
    private static final String INDEXES = """
            SELECT 'index', format('%I.%I', n.nspname, ic.relname), pg_get_indexdef(i.indexrelid)
                   || CASE WHEN i.indisreplident THEN ' REPLICA IDENTITY' ELSE '' END
                   || coalesce((SELECT format(' PARTITION OF %I.%I', pn.nspname, p.relname)
                                FROM pg_inherits h JOIN pg_class p ON p.oid = h.inhparent
                                JOIN pg_namespace pn ON pn.oid = p.relnamespace WHERE h.inhrelid = i.indexrelid), '')
                   || CASE WHEN NOT i.indisvalid THEN ' INVALID' ELSE '' END
            FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_namespace n ON n.oid = ic.relnamespace
            WHERE NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid
                              AND k.conrelid = i.indrelid AND k.contype IN ('p', 'u', 'x'))
              AND""" + USER_NAMESPACE + " AND " + notExtensionMember("pg_class", "i.indrelid");

    private static final String VIEWS = """
            SELECT CASE c.relkind WHEN 'm' THEN 'materialized view' ELSE 'view' END,
                   format('%I.%I', n.nspname, c.relname),
                   coalesce((SELECT string_agg(format('%I %s', a.attname, format_type(a.atttypid, a.atttypmod)), ', '
                                               ORDER BY a.attnum)
                             FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped),
                            '')
                   || CASE WHEN c.reloptions IS NOT NULL
                           THEN ' WITH (' || array_to_string(c.reloptions, ', ') || ')' ELSE '' END
                   || ' AS ' || pg_get_viewdef(c.oid)
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind IN ('v', 'm') AND""" + USER_NAMESPACE + " AND " + notExtensionMember("pg_class", "c.oid");

    // Aggregates are left out: pg_get_functiondef cannot print them.
    private static final String FUNCTIONS = """
            SELECT CASE p.prokind WHEN 'p' THEN 'procedure' ELSE 'function' END,
                   format('%I.%I(%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)),
                   pg_get_functiondef(p.oid)
            FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
            WHERE p.prokind IN ('f', 'p', 'w') AND""" + USER_NAMESPACE + " AND "
            + notExtensionMember("pg_proc", "p.oid");

    // Internal triggers implement foreign keys (compared as the constraint); triggers cloned onto partitions
    // (tgparentid) are covered by the parent's, and 14 marks them internal while later majors do not.
    private static final String TRIGGERS = """
            SELECT 'trigger', format('%I.%I.%I', n.nspname, c.relname, g.tgname),
                   pg_get_triggerdef(g.oid)
                   || CASE g.tgenabled WHEN 'D' THEN ' DISABLED' WHEN 'R' THEN ' ENABLE REPLICA'
                                       WHEN 'A' THEN ' ENABLE ALWAYS' ELSE '' END
            FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE NOT g.tgisinternal AND g.tgparentid = 0 AND g.tgname NOT LIKE 'pgmigrate\\_%'
              AND""" + USER_NAMESPACE + " AND " + notExtensionMember("pg_trigger", "g.oid");

    private static final String EVENT_TRIGGERS = """
            SELECT 'event trigger', format('%I', g.evtname),
                   format('EVENT TRIGGER %I ON %I', g.evtname, g.evtevent)
                   || CASE WHEN g.evttags IS NOT NULL
                           THEN ' WHEN TAG IN (' || array_to_string(g.evttags, ', ') || ')' ELSE '' END
                   || ' EXECUTE FUNCTION ' || g.evtfoid::regprocedure::text
                   || CASE g.evtenabled WHEN 'D' THEN ' DISABLED' WHEN 'R' THEN ' ENABLE REPLICA'
                                        WHEN 'A' THEN ' ENABLE ALWAYS' ELSE '' END
            FROM pg_event_trigger g
            WHERE g.evtname NOT LIKE 'pgmigrate\\_%' AND""" + notExtensionMember("pg_event_trigger", "g.oid");

    // The _RETURN rule of a view is its definition, compared as the view.
    private static final String RULES = """
            SELECT 'rule', format('%I.%I.%I', n.nspname, c.relname, r.rulename), pg_get_ruledef(r.oid)
            FROM pg_rewrite r JOIN pg_class c ON c.oid = r.ev_class JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE r.rulename <> '_RETURN' AND""" + USER_NAMESPACE + " AND " + notExtensionMember("pg_rewrite", "r.oid");

    private static final String POLICIES = """
            SELECT 'policy', format('%I.%I.%I', p.schemaname, p.tablename, p.policyname),
                   format('POLICY AS %s FOR %s TO %s', p.permissive, p.cmd, array_to_string(p.roles, ', '))
                   || coalesce(' USING (' || p.qual || ')', '')
                   || coalesce(' WITH CHECK (' || p.with_check || ')', '')
            FROM pg_policies p JOIN pg_namespace n ON n.nspname = p.schemaname
            WHERE""" + USER_NAMESPACE;

    // Comments on objects that are compared. pg_identify_object names them the same way on every major. Comments on
    // extensions come from the extension's control file, which belongs to the version, so they are left out.
    private static final String COMMENTS = """
            SELECT 'comment', o.type || ' ' || o.identity, d.description
            FROM pg_description d
            CROSS JOIN LATERAL pg_identify_object(d.classoid, d.objoid, d.objsubid) o
            LEFT JOIN pg_namespace n ON n.nspname = o.schema
            WHERE d.objoid >= 16384
              AND d.classoid <> 'pg_extension'::regclass
              AND (o.schema IS NULL OR""" + USER_NAMESPACE + """
            )
              AND (d.classoid <> 'pg_namespace'::regclass OR (SELECT nn.nspname FROM pg_namespace nn
                                                              WHERE nn.oid = d.objoid) NOT LIKE 'pgmigrate\\_%')
              AND NOT (d.classoid = 'pg_trigger'::regclass AND (SELECT g.tgname FROM pg_trigger g WHERE g.oid = d.objoid)
                       LIKE 'pgmigrate\\_%')
              AND NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = d.classoid AND e.objid = d.objoid
                              AND e.deptype = 'e')
            """;
}
