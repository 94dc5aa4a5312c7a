package io.pgmigrate.core.internal.ddl;

import java.util.List;

import static io.pgmigrate.core.internal.sql.Identifiers.literal;
import static io.pgmigrate.core.internal.sql.Identifiers.quote;

/**
 * The SQL objects of {@link DdlCarry} in one database: the queue, the statement splitter, the capture (an event
 * trigger function), the helper that publishes and fences new tables, and the apply trigger.
 *
 * <p>The capture runs as its owner (a superuser) inside the application's DDL transaction, with the application's
 * {@code search_path}: it reads that path first, then sets a safe one for itself and puts it back at the end, so no
 * operator or function of the application's schemas runs with its rights.
 */
final class DdlSql {

    private DdlSql() {
    }

    /** Statement verbs the other side replays. Transaction control is dropped; anything else makes a text unreplayable. */
    private static final String CARRIED = "'CREATE', 'ALTER', 'DROP', 'COMMENT', 'GRANT', 'REVOKE', 'SECURITY'";

    /** Command tags that are not recorded: each side's own replication objects, and what changes no definition. */
    private static final String IGNORED = "'CREATE PUBLICATION', 'ALTER PUBLICATION', 'DROP PUBLICATION',"
            + " 'CREATE SUBSCRIPTION', 'ALTER SUBSCRIPTION', 'DROP SUBSCRIPTION', 'REFRESH MATERIALIZED VIEW',"
            + " 'REINDEX', 'CREATE EVENT TRIGGER', 'ALTER EVENT TRIGGER', 'DROP EVENT TRIGGER'";

    /**
     * @param side        the side these objects are on, as the queue's {@code origin} names it ({@code source} or
     *                    {@code target})
     * @param publication what this side publishes through when it takes writes
     * @param fence       the fence's schema on this side
     * @param viaRoot     whether partitioned tables are published as themselves (both servers 13 or later)
     * @param lateJoin    whether a table may join the stream later than its creation (NATIVE: table synchronisation
     *                    copies what it holds then); otherwise only tables the statement creates join
     * @param freeze      whether schema changes are refused instead of recorded
     */
    static List<String> objects(String schema, String side, String publication, String fence, boolean viaRoot,
                                boolean lateJoin, boolean freeze) {
        String s = quote(schema);
        return List.of(
                "CREATE SCHEMA IF NOT EXISTS " + s,
                "REVOKE ALL ON SCHEMA " + s + " FROM PUBLIC",
                "CREATE SEQUENCE IF NOT EXISTS " + s + ".queue_id",
                """
                CREATE TABLE IF NOT EXISTS %1$s.queue (
                    origin text NOT NULL,
                    id bigint NOT NULL,
                    ran_at timestamptz NOT NULL DEFAULT now(),
                    role text NOT NULL,
                    search_path text NOT NULL,
                    tag text NOT NULL,
                    statement text NOT NULL,
                    replay text,
                    reason text,
                    timezone text,
                    datestyle text,
                    intervalstyle text,
                    PRIMARY KEY (origin, id))
                """.formatted(s),
                """
                CREATE TABLE IF NOT EXISTS %1$s.resolved (
                    origin text NOT NULL,
                    id bigint NOT NULL,
                    resolved_at timestamptz NOT NULL DEFAULT now(),
                    PRIMARY KEY (origin, id))
                """.formatted(s),
                "CREATE TABLE IF NOT EXISTS " + s + ".settings (side text PRIMARY KEY, publication text NOT NULL,"
                        + " fence text NOT NULL, via_root boolean NOT NULL, late_join boolean NOT NULL,"
                        + " stream_from bigint NOT NULL DEFAULT 0)",
                "ALTER TABLE " + s + ".settings ADD COLUMN IF NOT EXISTS frozen boolean NOT NULL DEFAULT false",
                "INSERT INTO " + s + ".settings (side, publication, fence, via_root, late_join, frozen) VALUES ("
                        + literal(side) + ", " + literal(publication) + ", " + literal(fence) + ", " + viaRoot + ", "
                        + lateJoin + ", " + freeze + ") ON CONFLICT (side) DO UPDATE SET publication ="
                        + " excluded.publication, fence = excluded.fence, via_root = excluded.via_root,"
                        + " late_join = excluded.late_join, frozen = excluded.frozen",
                "DELETE FROM " + s + ".settings WHERE side <> " + literal(side),
                // partitioned tables that joined late, until the other side's table synchronisation has copied them
                "CREATE TABLE IF NOT EXISTS " + s + ".joining (root oid PRIMARY KEY)",
                // what follows the data, as read with the schema the copy created on the other side (the side that
                // records keeps it: its schema read and its queue's position are taken together, see DdlCarry)
                "CREATE TABLE IF NOT EXISTS " + s + ".after_data_plan (kind text NOT NULL, ord int NOT NULL,"
                        + " statement text NOT NULL, PRIMARY KEY (kind, ord))",
                split(s),
                shown(s),
                statementKey(s),
                follow(s),
                dropped(s),
                boundOf(s),
                truncatePartition(s),
                truncated(s, schema),
                partitionsToFollow(s, schema),
                truncateTrigger(s, schema),
                followTruncate(s),
                refuseEarly(s, schema),
                capture(s, schema),
                apply(s, schema),
                "DROP TRIGGER IF EXISTS apply ON " + s + ".queue",
                "CREATE TRIGGER apply AFTER INSERT ON " + s + ".queue FOR EACH ROW EXECUTE FUNCTION " + s + ".apply()",
                "ALTER TABLE " + s + ".queue ENABLE ALWAYS TRIGGER apply",
                """
                DO $do$
                BEGIN
                    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_event_trigger WHERE evtname = %2$s) THEN
                        CREATE EVENT TRIGGER %1$s ON ddl_command_end EXECUTE FUNCTION %1$s.capture();
                        ALTER EVENT TRIGGER %1$s DISABLE;
                    END IF;
                    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_event_trigger WHERE evtname = %4$s) THEN
                        CREATE EVENT TRIGGER %3$s ON sql_drop EXECUTE FUNCTION %1$s.dropped();
                        ALTER EVENT TRIGGER %3$s DISABLE;
                    END IF;
                    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_event_trigger WHERE evtname = %6$s) THEN
                        CREATE EVENT TRIGGER %5$s ON ddl_command_start EXECUTE FUNCTION %1$s.refuse_early();
                        ALTER EVENT TRIGGER %5$s DISABLE;
                    END IF;
                END
                $do$
                """.formatted(s, literal(schema), quote(dropTrigger(schema)), literal(dropTrigger(schema)),
                        quote(startTrigger(schema)), literal(startTrigger(schema))));
    }

    /** The event triggers on {@code side}: the capture's ({@code ddl_command_end}), then the others. */
    static List<String> eventTriggers(String schema) {
        return List.of(schema, dropTrigger(schema), startTrigger(schema));
    }

    /** The {@code ddl_command_start} event trigger's name: the schema's, as long, ending in {@code _dds}. */
    static String startTrigger(String schema) {
        return schema.substring(0, schema.length() - 1) + "s";
    }

    /**
     * {@code refuse_early()}: with a freeze, or while {@code start()} holds schema changes, refuses a
     * {@code CONCURRENTLY} command before it starts. The capture refuses at the command's end, which for these is in
     * their last transaction: the ones before it have committed, and would leave an invalid index or a partition half
     * detached behind.
     */
    private static String refuseEarly(String s, String schema) {
        return """
                CREATE OR REPLACE FUNCTION %1$s.refuse_early() RETURNS event_trigger
                LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $f$
                BEGIN
                    IF coalesce(current_setting('pgmigrate.session', true), '') = ''
                       AND tg_tag IN ('CREATE INDEX', 'DROP INDEX', 'ALTER TABLE')
                       AND coalesce(current_query(), '') ~* E'\\\\mCONCURRENTLY\\\\M' THEN
                        IF coalesce((SELECT frozen FROM %1$s.settings LIMIT 1), false) THEN
                            RAISE EXCEPTION USING ERRCODE = '55000',
                                MESSAGE = format('schema changes are frozen while pgmigrate migrates this database: %%s'
                                                 ' refused', tg_tag),
                                HINT = 'make it once the migration is complete (Migration.complete()); the migration'
                                       ' was built with schemaChanges(SchemaChanges.FREEZE)';
                        ELSIF NOT pg_catalog.pg_try_advisory_xact_lock_shared(%2$s, %3$s) THEN
                            RAISE EXCEPTION USING ERRCODE = '55P03',
                                MESSAGE = format('schema changes are held for a moment while pgmigrate starts'
                                                 ' migrating this database: %%s refused', tg_tag),
                                HINT = 'try again in a few seconds';
                        END IF;
                    END IF;
                END
                $f$
                """.formatted(s, HOLD_CLASS, holdKey(schema))
                + ";\nREVOKE ALL ON FUNCTION " + s + ".refuse_early() FROM PUBLIC";
    }

    /**
     * {@code shown(tag, statement)}: a recorded statement as messages show it. The text of one that may hold a
     * password (a user mapping, a foreign server's options, a text naming a password, a secret, a credential or a key,
     * a connection URI with a password) is withheld: messages reach logs and status reports.
     */
    private static String shown(String s) {
        return """
                CREATE OR REPLACE FUNCTION %1$s.shown(tag text, statement text) RETURNS text
                LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $f$
                    SELECT CASE WHEN tag ~ 'USER MAPPING|SERVER'
                                  OR statement ~* '(passw|secret|pwd|credential|(api|access|private)[_ ]?key)'
                                  OR statement ~ '://[^/@[:space:]]*:[^/@[:space:]]*@'
                                THEN '(text withheld: it may hold a password)'
                                ELSE left(statement, 2000) END
                $f$
                """.formatted(s);
    }

    /**
     * {@code truncated()}: the trigger after {@code TRUNCATE} on each partition. Partitions are published through
     * their root, whose stream does not carry a {@code TRUNCATE} of one partition; on the side that records, it is
     * recorded like a schema change and replayed at its place in the stream. Also fires for each partition when the
     * root is truncated (the replay then finds it empty).
     */
    private static String truncated(String s, String schema) {
        return """
                CREATE OR REPLACE FUNCTION %1$s.truncated() RETURNS trigger
                LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $f$
                DECLARE
                    caller_role text := current_setting('role');
                BEGIN
                    IF coalesce(current_setting('pgmigrate.session', true), '') = ''
                       AND EXISTS (SELECT 1 FROM pg_event_trigger WHERE evtname = %2$s AND evtenabled <> 'D')
                       AND EXISTS (SELECT 1 FROM pg_class WHERE oid = tg_relid AND relispartition) THEN
                        IF EXISTS (SELECT 1 FROM %1$s.joining WHERE root = pg_partition_root(tg_relid)) THEN
                            -- The other side's table synchronisation copies the partitioned table now, and applies
                            -- its changes up to a position of its own, without this replay: placed before or after,
                            -- it would remove rows that are there on this side, or keep rows that are not.
                            RAISE EXCEPTION USING ERRCODE = '55000',
                                MESSAGE = format('TRUNCATE of partition %%I.%%I refused while pgmigrate copies its'
                                                 ' partitioned table %%s, created during the migration, to the other'
                                                 ' side', tg_table_schema, tg_table_name,
                                                 pg_partition_root(tg_relid)::regclass),
                                HINT = 'use DELETE, or truncate once the copy is done (Migration.awaitInSync() waits'
                                       ' for it)';
                        END IF;
                        INSERT INTO %1$s.queue (origin, id, role, search_path, tag, statement, replay)
                        SELECT side, nextval('%1$s.queue_id'),
                               CASE WHEN caller_role = 'none' THEN session_user::text ELSE caller_role END,
                               'pg_catalog', 'TRUNCATE', coalesce(current_query(), ''),
                               format('SELECT %%I.truncate_partition(%%L, %%L, %%L)', %3$s, tg_table_schema,
                                      tg_table_name, %1$s.bound_of(tg_relid))
                        FROM %1$s.settings LIMIT 1;
                    END IF;
                    RETURN NULL;
                END
                $f$
                """.formatted(s, literal(schema), literal(schema))
                + ";\nREVOKE ALL ON FUNCTION " + s + ".truncated() FROM PUBLIC";
    }

    /**
     * {@code bound_of(partition)}: its parent and bounds as one text, the same on both sides whatever the session's
     * settings (bounds of time types print in the session's time zone and date style).
     */
    private static String boundOf(String s) {
        return """
                CREATE OR REPLACE FUNCTION %1$s.bound_of(rel oid) RETURNS text
                LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp SET TimeZone = 'UTC'
                SET DateStyle = 'ISO, YMD' SET IntervalStyle = 'postgres' SET extra_float_digits = 3
                SET bytea_output = 'hex' SET standard_conforming_strings = on AS $f$
                    SELECT format('%%I.%%I ', pn.nspname, p.relname) || pg_get_expr(c.relpartbound, c.oid)
                    FROM pg_class c JOIN pg_inherits i ON i.inhrelid = c.oid JOIN pg_class p ON p.oid = i.inhparent
                    JOIN pg_namespace pn ON pn.oid = p.relnamespace
                    WHERE c.oid = rel AND c.relispartition
                $f$
                """.formatted(s);
    }

    /**
     * {@code truncate_partition(schema, name, bound)}: the replay of a partition's {@code TRUNCATE}, where the table
     * is a partition of the same parent with the same bounds (else its rows are not the ones truncated: the stream
     * stops, naming it). {@code CASCADE}: tables that reference it were truncated with it on the other side.
     */
    private static String truncatePartition(String s) {
        return """
                CREATE OR REPLACE FUNCTION %1$s.truncate_partition(nsp text, rel text, bound text) RETURNS void
                LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $f$
                DECLARE
                    here oid;
                BEGIN
                    SELECT c.oid INTO here FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                    WHERE n.nspname = nsp AND c.relname = rel;
                    IF EXISTS (SELECT 1 FROM pg_subscription_rel sr JOIN pg_subscription s ON s.oid = sr.srsubid
                               WHERE sr.srrelid = pg_partition_root(here) AND sr.srsubstate <> 'r'
                                 AND s.subname LIKE E'pgmigrate\\\\_%%') THEN
                        -- NATIVE's table synchronisation copies the partitioned table in a snapshot taken after this
                        -- TRUNCATE (the other side refuses one from the moment it marks the table as joining), so
                        -- the copy holds its effect already, and rows it brought from after it must stay
                        RETURN;
                    END IF;
                    IF here IS NULL OR %1$s.bound_of(here) IS DISTINCT FROM bound THEN
                        RAISE EXCEPTION USING ERRCODE = '42P17',
                            MESSAGE = format('partition %%I.%%I was truncated on the other side, where it is %%s; here'
                                             ' it is %%s, so other rows would be removed',
                                             nsp, rel, bound, coalesce(%1$s.bound_of(here),
                                             CASE WHEN here IS NULL THEN 'missing' ELSE 'no partition' END));
                    END IF;
                    EXECUTE format('TRUNCATE %%I.%%I CASCADE', nsp, rel);
                END
                $f$
                """.formatted(s)
                + ";\nREVOKE ALL ON FUNCTION " + s + ".truncate_partition(text, text, text) FROM PUBLIC";
    }

    /** {@code truncate_trigger(nsp, rel)}: the statement that gives a partition the trigger of truncated(). */
    private static String truncateTrigger(String s, String schema) {
        return """
                CREATE OR REPLACE FUNCTION %1$s.truncate_trigger(nsp name, rel name) RETURNS text
                LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $f$
                    SELECT format('CREATE TRIGGER %%I AFTER TRUNCATE ON %%I.%%I FOR EACH STATEMENT'
                                  ' EXECUTE FUNCTION %%I.truncated()', %2$s, nsp, rel, %2$s)
                $f$
                """.formatted(s, literal(schema));
    }

    /** {@code partitions_to_follow()}: the partitions that should and do not yet have the trigger of truncated(). */
    private static String partitionsToFollow(String s, String schema) {
        return """
                CREATE OR REPLACE FUNCTION %1$s.partitions_to_follow() RETURNS TABLE (nsp name, rel name)
                LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $f$
                    SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                    WHERE coalesce((SELECT via_root FROM %1$s.settings LIMIT 1), false)
                      AND c.relkind = 'r' AND c.relispartition AND c.relpersistence = 'p'
                      AND n.nspname NOT IN ('pg_catalog', 'information_schema')
                      AND n.nspname NOT LIKE E'pg\\\\_%%' AND n.nspname NOT LIKE E'pgmigrate\\\\_%%'
                      AND NOT EXISTS (SELECT 1 FROM pg_trigger g WHERE g.tgrelid = c.oid AND g.tgname = %2$s)
                    ORDER BY 1, 2
                $f$
                """.formatted(s, literal(schema));
    }

    /**
     * {@code follow_truncate()}: the trigger of {@code truncated()} on every partition that lacks it, for a
     * statement that created or attached partitions (they are locked by that statement already). At installation the
     * triggers are created one table per transaction instead ({@link DdlCarry#install}).
     */
    private static String followTruncate(String s) {
        return """
                CREATE OR REPLACE FUNCTION %1$s.follow_truncate() RETURNS void
                LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $f$
                DECLARE
                    t record;
                BEGIN
                    FOR t IN SELECT * FROM %1$s.partitions_to_follow() LOOP
                        EXECUTE %1$s.truncate_trigger(t.nsp, t.rel);
                    END LOOP;
                END
                $f$
                """.formatted(s)
                + ";\nREVOKE ALL ON FUNCTION " + s + ".follow_truncate() FROM PUBLIC";
    }

    /** The first half of the advisory lock that holds schema changes while {@code start()} sets up ("pgmh"). */
    static final int HOLD_CLASS = 0x70676d68;

    /** The second half: the schema's, so that migrations and databases hold apart. */
    static int holdKey(String schema) {
        return schema.hashCode();
    }

    /** The {@code sql_drop} event trigger's name: the schema's, as long, ending in {@code _ddd}. */
    static String dropTrigger(String schema) {
        return schema.substring(0, schema.length() - 1) + "d";
    }

    /**
     * {@code split(text)}: the statements of a query string, each without its terminating semicolon, skipping
     * comments and reading strings, quoted identifiers and dollar quotes as PostgreSQL's lexer does.
     */
    private static String split(String s) {
        return """
                CREATE OR REPLACE FUNCTION %1$s.split(q text) RETURNS text[]
                LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $f$
                DECLARE
                    c text[] := regexp_split_to_array(coalesce(q, ''), '');
                    n int := coalesce(array_length(c, 1), 0);
                    i int := 1;
                    start int := 1;
                    depth int;
                    esc boolean;
                    j int;
                    k int;
                    tag text;
                    rest text;
                    out text[] := '{}';
                    piece text;
                    started boolean := false;
                BEGIN
                    WHILE i <= n LOOP
                        IF c[i] = '-' AND i < n AND c[i + 1] = '-' THEN
                            WHILE i <= n AND c[i] <> E'\\n' LOOP i := i + 1; END LOOP;
                            IF NOT started THEN start := i; END IF;
                        ELSIF c[i] = '/' AND i < n AND c[i + 1] = '*' THEN
                            depth := 1;
                            i := i + 2;
                            WHILE i <= n AND depth > 0 LOOP
                                IF c[i] = '/' AND i < n AND c[i + 1] = '*' THEN depth := depth + 1; i := i + 2;
                                ELSIF c[i] = '*' AND i < n AND c[i + 1] = '/' THEN depth := depth - 1; i := i + 2;
                                ELSE i := i + 1;
                                END IF;
                            END LOOP;
                            IF NOT started THEN start := i; END IF;
                        ELSIF c[i] = '''' THEN
                            started := true;
                            esc := i > 1 AND lower(c[i - 1]) = 'e' AND (i = 2 OR c[i - 2] !~ '[A-Za-z0-9_$]');
                            i := i + 1;
                            WHILE i <= n LOOP
                                IF esc AND c[i] = E'\\\\' THEN
                                    i := i + 2;
                                ELSIF c[i] = '''' AND i < n AND c[i + 1] = '''' THEN
                                    i := i + 2;
                                ELSIF c[i] = '''' THEN
                                    EXIT;
                                ELSE
                                    i := i + 1;
                                END IF;
                            END LOOP;
                            i := i + 1;
                        ELSIF c[i] = '"' THEN
                            started := true;
                            i := i + 1;
                            WHILE i <= n LOOP
                                IF c[i] = '"' AND i < n AND c[i + 1] = '"' THEN
                                    i := i + 2;
                                ELSIF c[i] = '"' THEN
                                    EXIT;
                                ELSE
                                    i := i + 1;
                                END IF;
                            END LOOP;
                            i := i + 1;
                        ELSIF c[i] = '$' AND (i = 1 OR c[i - 1] !~ '[A-Za-z0-9_]') THEN
                            started := true;
                            j := i + 1;
                            WHILE j <= n AND c[j] ~ '[A-Za-z0-9_]' LOOP j := j + 1; END LOOP;
                            IF j <= n AND c[j] = '$' AND (j = i + 1 OR c[i + 1] !~ '[0-9]') THEN
                                tag := array_to_string(c[i:j], '');
                                rest := array_to_string(c[j + 1:n], '');
                                k := strpos(rest, tag);
                                i := CASE WHEN k = 0 THEN n + 1 ELSE j + k + length(tag) END;
                            ELSE
                                i := i + 1;
                            END IF;
                        ELSIF c[i] = ';' THEN
                            piece := btrim(array_to_string(c[start:i - 1], ''), E' \\t\\r\\n');
                            IF piece <> '' THEN out := out || piece; END IF;
                            i := i + 1;
                            start := i;
                            started := false;
                        ELSIF NOT started AND c[i] ~ E'\\\\s' THEN
                            i := i + 1;
                            start := i;
                        ELSE
                            started := true;
                            i := i + 1;
                        END IF;
                    END LOOP;
                    piece := btrim(array_to_string(c[start:n], ''), E' \\t\\r\\n');
                    IF piece <> '' THEN out := out || piece; END IF;
                    RETURN out;
                END
                $f$
                """.formatted(s);
    }

    /**
     * {@code follow(new_tables, any_table)}: tables the stream should now carry join the side's publication (when it
     * exists): those of {@code new_tables}, or with {@code any_table} every eligible table missing from it (a detached
     * partition; NATIVE, whose table synchronisation copies what a late table holds). Only tables with a replica
     * identity: publishing one without would make the application's updates and deletes on it fail. The new tables
     * get the fence's trigger where the fence's guard is there. A superuser's function, for the capture only.
     */
    private static String follow(String s) {
        return """
                CREATE OR REPLACE FUNCTION %1$s.follow(new_tables oid[], any_table boolean) RETURNS void
                LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $f$
                DECLARE
                    conf record;
                    t record;
                BEGIN
                    SELECT * INTO conf FROM %1$s.settings LIMIT 1;
                    IF conf IS NULL THEN
                        RETURN;
                    END IF;
                    IF EXISTS (SELECT 1 FROM pg_publication WHERE pubname = conf.publication AND NOT puballtables) THEN
                        FOR t IN
                            SELECT c.oid, c.relkind, n.nspname, c.relname
                            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                            WHERE c.relpersistence = 'p'
                              AND (any_table OR c.oid = ANY (new_tables))
                              AND (CASE WHEN conf.via_root THEN c.relkind IN ('r', 'p') AND NOT c.relispartition
                                        ELSE c.relkind = 'r' AND NOT c.relispartition END)
                              AND (c.relreplident = 'f'
                                   OR (c.relreplident = 'd' AND EXISTS (SELECT 1 FROM pg_index i
                                                                        WHERE i.indrelid = c.oid AND i.indisprimary))
                                   OR (c.relreplident = 'i' AND EXISTS (SELECT 1 FROM pg_index i
                                                                        WHERE i.indrelid = c.oid AND i.indisreplident)))
                              AND n.nspname NOT IN ('pg_catalog', 'information_schema')
                              AND n.nspname NOT LIKE E'pg\\\\_%%' AND n.nspname NOT LIKE E'pgmigrate\\\\_%%'
                              AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                                              AND d.objid = c.oid AND d.deptype = 'e')
                              AND NOT EXISTS (SELECT 1 FROM pg_inherits h WHERE h.inhrelid = c.oid
                                              OR (h.inhparent = c.oid AND c.relkind = 'r'))
                              AND NOT EXISTS (SELECT 1 FROM pg_publication_rel pr
                                              JOIN pg_publication p ON p.oid = pr.prpubid
                                              WHERE p.pubname = conf.publication AND pr.prrelid = c.oid)
                              AND NOT EXISTS (SELECT 1 FROM pg_publication_tables pt
                                              WHERE pt.pubname = conf.publication AND pt.schemaname = n.nspname
                                                AND pt.tablename = c.relname)
                        LOOP
                            EXECUTE format('ALTER PUBLICATION %%I ADD TABLE %%I.%%I', conf.publication, t.nspname,
                                           t.relname);
                            IF conf.late_join AND t.relkind = 'p' THEN
                                -- copied by the other side's table synchronisation: see truncated()
                                INSERT INTO %1$s.joining (root) VALUES (t.oid) ON CONFLICT DO NOTHING;
                            END IF;
                        END LOOP;
                    END IF;
                    IF EXISTS (SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                               WHERE n.nspname = conf.fence AND p.proname = 'guard') THEN
                        FOR t IN
                            SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                            WHERE c.oid = ANY (new_tables) AND c.relkind IN ('r', 'p')
                              AND NOT EXISTS (SELECT 1 FROM pg_trigger g WHERE g.tgrelid = c.oid
                                              AND g.tgname = conf.fence)
                        LOOP
                            EXECUTE format('CREATE TRIGGER %%I BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON %%I.%%I'
                                           ' FOR EACH STATEMENT EXECUTE FUNCTION %%I.guard()', conf.fence, t.nspname,
                                           t.relname, conf.fence);
                        END LOOP;
                    END IF;
                END
                $f$
                """.formatted(s)
                + ";\nREVOKE ALL ON FUNCTION " + s + ".follow(oid[], boolean) FROM PUBLIC";
    }

    /**
     * {@code dropped()}: the {@code sql_drop} event trigger's function. Marks a statement that dropped only temporary
     * objects (the session's own), so that the capture, which fires after it, does not record it, and one that
     * dropped a real one, which a freeze refuses.
     */
    private static String dropped(String s) {
        return """
                CREATE OR REPLACE FUNCTION %1$s.dropped() RETURNS event_trigger
                LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $f$
                BEGIN
                    IF NOT EXISTS (SELECT 1 FROM pg_event_trigger_dropped_objects() o WHERE NOT o.is_temporary) THEN
                        PERFORM set_config('pgmigrate.ddl_temporary', %1$s.statement_key(), true);
                    ELSE
                        PERFORM set_config('pgmigrate.ddl_dropped', %1$s.statement_key(), true);
                    END IF;
                END
                $f$
                """.formatted(s)
                + ";\nREVOKE ALL ON FUNCTION " + s + ".dropped() FROM PUBLIC";
    }

    /** {@code statement_key()}: the transaction, the client's statement message and its text. */
    private static String statementKey(String s) {
        return """
                CREATE OR REPLACE FUNCTION %1$s.statement_key() RETURNS text
                LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $f$
                    SELECT txid_current()::text || '/' || statement_timestamp()::text || '/'
                           || md5(coalesce(current_query(), ''))
                $f$
                """.formatted(s);
    }

    /**
     * {@code capture()}: the event trigger's function. Records the client's statement text once per statement
     * message, with what the other side replays, then calls {@code follow()}. Every declared type is qualified: the
     * declarations are compiled with the caller's {@code search_path}, before the safe one is set.
     */
    private static String capture(String s, String schema) {
        return """
                CREATE OR REPLACE FUNCTION %1$s.capture() RETURNS event_trigger
                LANGUAGE plpgsql SECURITY DEFINER AS $f$
                DECLARE
                    caller_path pg_catalog.text := pg_catalog.current_setting('search_path');
                    caller_role pg_catalog.text := pg_catalog.current_setting('role');
                    q pg_catalog.text := pg_catalog.current_query();
                    this_side pg_catalog.text;
                    late pg_catalog.bool;
                    is_frozen pg_catalog.bool;
                    changed pg_catalog.bool;
                    dropped_temporary pg_catalog.bool;
                    dropped_real pg_catalog.bool;
                    key pg_catalog.text;
                    pieces pg_catalog.text[];
                    piece pg_catalog.text;
                    verb pg_catalog.text;
                    replay pg_catalog.text := '';
                    why pg_catalog.text;
                    k pg_catalog.int4;
                    total pg_catalog.int4;
                    created pg_catalog.oid[];
                BEGIN
                    PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
                    key := %1$s.statement_key();
                    -- what sql_drop saw, for this command only: it fires just before this command's end, and the
                    -- next command of the same statement message (a DO block) has the same key
                    dropped_temporary := coalesce(current_setting('pgmigrate.ddl_temporary', true), '') = key;
                    dropped_real := coalesce(current_setting('pgmigrate.ddl_dropped', true), '') = key;
                    PERFORM set_config('pgmigrate.ddl_temporary', '', true);
                    PERFORM set_config('pgmigrate.ddl_dropped', '', true);
                    IF coalesce(current_setting('pgmigrate.ddl_busy', true), '') = 'on'
                       -- the migration's own sessions change their own objects
                       OR coalesce(current_setting('pgmigrate.session', true), '') <> ''
                       OR tg_tag IN (%2$s)
                       OR dropped_temporary
                       -- temporary objects are the session's own
                       OR (EXISTS (SELECT 1 FROM pg_event_trigger_ddl_commands())
                           AND NOT EXISTS (SELECT 1 FROM pg_event_trigger_ddl_commands() d
                                           WHERE d.schema_name IS NULL OR d.schema_name NOT LIKE E'pg\\\\_temp%%')) THEN
                        PERFORM set_config('search_path', caller_path, true);
                        RETURN;
                    END IF;
                    SELECT side, late_join, frozen INTO this_side, late, is_frozen FROM %1$s.settings LIMIT 1;
                    -- what changed nothing passes the hold and the freeze: an IF NOT EXISTS that found the object, an
                    -- IF EXISTS that did not (applications run those at every start)
                    changed := EXISTS (SELECT 1 FROM pg_event_trigger_ddl_commands())
                               OR dropped_real;
                    IF changed AND NOT pg_catalog.pg_try_advisory_xact_lock_shared(%4$s, %5$s) THEN
                        -- start() reads the schema and sets the stream's start: a change now would be in neither
                        PERFORM set_config('search_path', caller_path, true);
                        RAISE EXCEPTION USING ERRCODE = '55P03',
                            MESSAGE = format('schema changes are held for a moment while pgmigrate starts migrating'
                                             ' this database: %%s refused', tg_tag),
                            HINT = 'try again in a few seconds';
                    END IF;
                    IF is_frozen THEN
                        PERFORM set_config('search_path', caller_path, true);
                        IF NOT changed THEN
                            RETURN;
                        END IF;
                        RAISE EXCEPTION USING ERRCODE = '55000',
                            MESSAGE = format('schema changes are frozen while pgmigrate migrates this database: %%s'
                                             ' refused', tg_tag),
                            HINT = 'make it once the migration is complete (Migration.complete()), or on the side'
                                   ' without traffic with Migration.applyOnFencedSide; the migration was built with'
                                   ' schemaChanges(SchemaChanges.FREEZE)';
                    END IF;
                    IF coalesce(current_setting('pgmigrate.ddl_recorded', true), '') <> key THEN
                        IF q IS NULL THEN
                            why := 'the server gave no statement text';
                        ELSIF current_setting('standard_conforming_strings') <> 'on' THEN
                            why := 'the session ran with standard_conforming_strings off, which the replay cannot'
                                || ' reproduce';
                        ELSE
                            pieces := %1$s.split(q);
                            total := coalesce(array_length(pieces, 1), 0);
                            FOR k IN 1 .. total LOOP
                                piece := pieces[k];
                                verb := upper(substring(piece FROM '^[A-Za-z]+'));
                                IF verb IN ('BEGIN', 'START') AND k = 1 AND total > 1
                                   OR verb IN ('COMMIT', 'END') AND k = total AND total > 1 THEN
                                    CONTINUE; -- the text's own transaction around it
                                ELSIF piece ~* E'\\\\mBEGIN\\\\s+ATOMIC\\\\M' THEN
                                    why := 'a function body in BEGIN ATOMIC ... END is not replayed';
                                    EXIT;
                                ELSIF piece ~* E'^CREATE\\\\s+((GLOBAL|LOCAL)\\\\s+)?(TEMP|TEMPORARY)\\\\M' THEN
                                    CONTINUE; -- the session's own object
                                ELSIF verb IN (%3$s) THEN
                                    IF piece ~* E'^ALTER\\\\s+TABLE\\\\M.*\\\\mDETACH\\\\s+PARTITION\\\\M.*\\\\mFINALIZE\\\\s*$' THEN
                                        CONTINUE; -- the other side detached it at once
                                    END IF;
                                    piece := regexp_replace(piece,
                                        E'^(CREATE\\\\s+(UNIQUE\\\\s+)?INDEX\\\\s+|DROP\\\\s+INDEX\\\\s+|REINDEX\\\\s+(\\\\([^)]*\\\\)\\\\s*)?[A-Za-z]+\\\\s+)CONCURRENTLY\\\\s+',
                                        E'\\\\1', 'i');
                                    IF piece ~* E'^ALTER\\\\s+TABLE\\\\M.*\\\\mDETACH\\\\s+PARTITION\\\\M' THEN
                                        piece := regexp_replace(piece, E'\\\\s+CONCURRENTLY\\\\s*$', '', 'i');
                                    END IF;
                                    -- on a line of its own: a piece may end in a line comment
                                    replay := replay || piece || E'\n;\n';
                                ELSE
                                    why := 'DDL ran inside a statement text that also holds '
                                        || coalesce(verb, left(piece, 20))
                                        || ' (a function, a DO block, several transactions, or data changes the'
                                        || ' stream carries itself)';
                                    EXIT;
                                END IF;
                            END LOOP;
                        END IF;
                        INSERT INTO %1$s.queue (origin, id, role, search_path, tag, statement, replay, reason,
                                                timezone, datestyle, intervalstyle)
                        VALUES (this_side, nextval('%1$s.queue_id'),
                                CASE WHEN caller_role = 'none' THEN session_user::text ELSE caller_role END,
                                caller_path, tg_tag, coalesce(q, ''),
                                CASE WHEN why IS NULL AND replay <> '' THEN replay END, why,
                                current_setting('TimeZone'), current_setting('DateStyle'),
                                current_setting('IntervalStyle'));
                        PERFORM set_config('pgmigrate.ddl_recorded', key, true);
                    END IF;
                    SELECT coalesce(array_agg(d.objid), '{}') INTO created FROM pg_event_trigger_ddl_commands() d
                    WHERE d.command_tag IN ('CREATE TABLE', 'CREATE TABLE AS', 'SELECT INTO')
                      AND d.object_type IN ('table', 'partitioned table');
                    PERFORM set_config('pgmigrate.ddl_busy', 'on', true);
                    PERFORM %1$s.follow(created, late OR coalesce(q, '') ~* E'\\\\mDETACH\\\\s+PARTITION\\\\M');
                    PERFORM %1$s.follow_truncate();
                    PERFORM set_config('pgmigrate.ddl_busy', 'off', true);
                    PERFORM set_config('search_path', caller_path, true);
                END
                $f$
                """.formatted(s, IGNORED, CARRIED, HOLD_CLASS, holdKey(schema))
                + ";\nREVOKE ALL ON FUNCTION " + s + ".capture() FROM PUBLIC";
    }

    /**
     * {@code apply()}: the queue's trigger. Fires only where the stream applies (replica mode), for rows that came
     * from the other side; executes the statement as its role with its settings, or raises an error naming it. The
     * statement's settings are set inside a subtransaction and put back after it, so nothing after the statement runs
     * with its {@code search_path}, and a failure rolls them back before the error is built.
     */
    private static String apply(String s, String schema) {
        return """
                CREATE OR REPLACE FUNCTION %1$s.apply() RETURNS trigger
                LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $f$
                DECLARE
                    this_side text;
                    own_role text := current_setting('role');
                    own_timezone text := current_setting('TimeZone');
                    own_datestyle text := current_setting('DateStyle');
                    own_intervalstyle text := current_setting('IntervalStyle');
                    hint text;
                    msg text;
                    state text;
                BEGIN
                    IF current_setting('session_replication_role') <> 'replica' THEN
                        RETURN NULL;
                    END IF;
                    SELECT side INTO this_side FROM %1$s.settings LIMIT 1;
                    IF this_side = NEW.origin
                       OR EXISTS (SELECT 1 FROM %1$s.resolved r WHERE r.origin = NEW.origin AND r.id = NEW.id) THEN
                        RETURN NULL;
                    END IF;
                    hint := format('make the same change on this server yourself with'
                                   ' Migration.applyOnFencedSide(database, sql), or here by hand and then'
                                   ' INSERT INTO %%I.resolved (origin, id) VALUES (%%L, %%s); the stream goes on after it',
                                   %2$s, NEW.origin, NEW.id);
                    IF NEW.replay IS NULL THEN
                        RAISE EXCEPTION USING ERRCODE = '0A000',
                            MESSAGE = format('pgmigrate cannot replay DDL #%%s (%%s) from the %%s here: %%s',
                                             NEW.id, NEW.tag, NEW.origin, NEW.reason),
                            DETAIL = 'statement: ' || %1$s.shown(NEW.tag, NEW.statement), HINT = hint;
                    END IF;
                    IF NEW.tag <> 'TRUNCATE' AND NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = NEW.role) THEN
                        -- never as the applying superuser instead: objects would get its rights
                        RAISE EXCEPTION USING ERRCODE = '42704',
                            MESSAGE = format('pgmigrate: DDL #%%s (%%s) from the %%s ran as role %%s, which does not'
                                             ' exist here', NEW.id, NEW.tag, NEW.origin, NEW.role),
                            DETAIL = 'statement: ' || %1$s.shown(NEW.tag, NEW.statement),
                            HINT = 'create the role here (the stream tries again), or ' || hint;
                    END IF;
                    BEGIN
                        -- a partition's TRUNCATE is pgmigrate's own statement (see truncated()): as the applying role
                        IF NEW.tag <> 'TRUNCATE' AND NEW.role <> current_user THEN
                            PERFORM pg_catalog.set_config('role', NEW.role, true);
                        END IF;
                        IF NEW.timezone IS NOT NULL THEN
                            PERFORM pg_catalog.set_config('TimeZone', NEW.timezone, true);
                            PERFORM pg_catalog.set_config('DateStyle', NEW.datestyle, true);
                            PERFORM pg_catalog.set_config('IntervalStyle', NEW.intervalstyle, true);
                        END IF;
                        PERFORM pg_catalog.set_config('search_path', NEW.search_path, true);
                        EXECUTE NEW.replay;
                        PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
                        PERFORM pg_catalog.set_config('role', own_role, true);
                        PERFORM pg_catalog.set_config('TimeZone', own_timezone, true);
                        PERFORM pg_catalog.set_config('DateStyle', own_datestyle, true);
                        PERFORM pg_catalog.set_config('IntervalStyle', own_intervalstyle, true);
                    EXCEPTION WHEN OTHERS THEN
                        GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, state = RETURNED_SQLSTATE;
                        IF %1$s.shown(NEW.tag, NEW.statement) <> left(NEW.statement, 2000) THEN
                            msg := '(withheld with the statement)'; -- the error may quote the statement's values
                        END IF;
                        RAISE EXCEPTION USING ERRCODE = state,
                            MESSAGE = format('pgmigrate: DDL #%%s (%%s) from the %%s failed here: %%s',
                                             NEW.id, NEW.tag, NEW.origin, msg),
                            DETAIL = 'statement: ' || %1$s.shown(NEW.tag, NEW.replay),
                            HINT = 'fix this server so that the statement succeeds (the stream tries it again), or '
                                   || hint;
                    END;
                    PERFORM %1$s.follow_fence();
                    PERFORM %1$s.follow_truncate();
                    RETURN NULL;
                END
                $f$
                """.formatted(s, literal(schema))
                + ";\n" + followFence(s);
    }

    /** {@code follow_fence()}: the fence's trigger on every table of the side applied to that lacks it. */
    private static String followFence(String s) {
        return """
                CREATE OR REPLACE FUNCTION %1$s.follow_fence() RETURNS void
                LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $f$
                DECLARE
                    conf record;
                    t record;
                BEGIN
                    SELECT * INTO conf FROM %1$s.settings LIMIT 1;
                    IF conf IS NULL OR NOT EXISTS (SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                                                   WHERE n.nspname = conf.fence AND p.proname = 'guard') THEN
                        RETURN;
                    END IF;
                    FOR t IN
                        SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                        WHERE c.relkind IN ('r', 'p')
                          AND n.nspname NOT IN ('pg_catalog', 'information_schema')
                          AND n.nspname NOT LIKE E'pg\\\\_toast%%' AND n.nspname NOT LIKE E'pg\\\\_temp%%'
                          AND n.nspname NOT LIKE E'pgmigrate\\\\_%%'
                          AND NOT EXISTS (SELECT 1 FROM pg_trigger g WHERE g.tgrelid = c.oid AND g.tgname = conf.fence)
                    LOOP
                        EXECUTE format('CREATE TRIGGER %%I BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON %%I.%%I'
                                       ' FOR EACH STATEMENT EXECUTE FUNCTION %%I.guard()', conf.fence, t.nspname,
                                       t.relname, conf.fence);
                    END LOOP;
                END
                $f$
                """.formatted(s);
    }
}
