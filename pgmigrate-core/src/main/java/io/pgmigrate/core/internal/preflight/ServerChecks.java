package io.pgmigrate.core.internal.preflight;

import io.pgmigrate.Finding;
import io.pgmigrate.Severity;
import io.pgmigrate.core.internal.sql.Queries;

import java.sql.Connection;
import java.sql.SQLException;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static io.pgmigrate.core.internal.sql.Identifiers.quote;

/**
 * Server-wide checks for both sides: versions, settings sized for the migration in both directions (the forward
 * stream now, the reverse stream from cutover on), and the migration role's privileges.
 */
final class ServerChecks {

    /** Oldest major the target may run: status reads pg_stat_progress_copy, new in 14. */
    static final int MIN_TARGET_MAJOR = 14;
    /** Oldest source major: the catalog schema copy reads pg_attribute.attgenerated, new in 12. */
    static final int MIN_SOURCE_MAJOR = 12;
    /** Below this, a max_slot_wal_keep_size may invalidate the slot during a long initial copy. */
    private static final long SMALL_WAL_KEEP_MB = 1024;

    private static final List<String> SETTINGS = List.of("wal_level", "max_replication_slots", "max_wal_senders",
            "max_worker_processes", "max_logical_replication_workers", "max_sync_workers_per_subscription",
            "max_active_replication_origins", "max_slot_wal_keep_size", "max_connections");

    /** What one server says about itself and the migration role. */
    record Side(String name, int major, Map<String, String> settings, String role, boolean superuser,
                boolean replication, boolean createSubscription, boolean seeAndSignal, boolean createDb,
                int connLimit, int usedSlots, int usedSenders, int usedOrigins, int connections, long walBytes,
                boolean streamApply) {

        static Side read(Connection c, String name) throws SQLException {
            Map<String, String> settings = new HashMap<>();
            for (Map.Entry<String, String> e : Queries.list(c, "SELECT name, setting FROM pg_settings"
                            + " WHERE name = ANY (?)", rs -> Map.entry(rs.getString(1), rs.getString(2)),
                    c.createArrayOf("text", SETTINGS.toArray()))) {
                settings.put(e.getKey(), e.getValue());
            }
            int major = Integer.parseInt(Queries.string(c, "SHOW server_version_num")) / 10000;
            // STREAM applies in replica mode under replication origins: a superuser, or from 15 on a role granted
            // SET on session_replication_role and EXECUTE on the origin functions.
            String streamApply = major < 15 ? "r.rolsuper" : """
                    r.rolsuper OR (has_parameter_privilege('session_replication_role', 'SET')
                                   AND (SELECT bool_and(has_function_privilege(p.oid, 'EXECUTE')) FROM pg_proc p
                                        WHERE p.proname IN ('pg_replication_origin_create', 'pg_replication_origin_drop',
                                                            'pg_replication_origin_session_setup')))""";
            // pg_create_subscription exists from 16 on; the role name is only looked up where it exists.
            record Row(Side side, boolean monitor) { }
            Row row = Queries.first(c, """
                    SELECT r.rolname, r.rolsuper, r.rolreplication,
                           EXISTS (SELECT 1 FROM pg_roles g WHERE g.rolname = 'pg_create_subscription'
                                   AND pg_has_role(r.oid, g.oid, 'MEMBER')),
                           pg_has_role(r.oid, 'pg_read_all_stats', 'MEMBER')
                               AND pg_has_role(r.oid, 'pg_signal_backend', 'MEMBER'),
                           r.rolcreatedb, r.rolconnlimit,
                           (SELECT count(*) FROM pg_replication_slots),
                           (SELECT count(*) FROM pg_stat_replication),
                           (SELECT count(*) FROM pg_replication_origin),
                           (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'),
                           r.rolsuper OR pg_has_role(r.oid, 'pg_monitor', 'MEMBER'),
                    """ + streamApply + """

                    FROM pg_roles r WHERE r.rolname = current_user
                    """, rs -> new Row(new Side(name, major, settings, rs.getString(1), rs.getBoolean(2),
                    rs.getBoolean(3), rs.getBoolean(4), rs.getBoolean(5), rs.getBoolean(6), rs.getInt(7), rs.getInt(8),
                    rs.getInt(9), rs.getInt(10), rs.getInt(11), -1, rs.getBoolean(13)), rs.getBoolean(12)))
                    .orElseThrow();
            // The WAL directory's size needs pg_monitor; -1 when it cannot be read.
            if (!row.monitor()) {
                return row.side();
            }
            try {
                return row.side().withWalBytes(Long.parseLong(Queries.string(c,
                        "SELECT coalesce(sum(size), 0) FROM pg_ls_waldir()")));
            } catch (SQLException e) {
                return row.side();
            }
        }

        Side withWalBytes(long bytes) {
            return new Side(name, major, settings, role, superuser, replication, createSubscription, seeAndSignal,
                    createDb, connLimit, usedSlots, usedSenders, usedOrigins, connections, bytes, streamApply);
        }

        int setting(String key) {
            return Integer.parseInt(settings.getOrDefault(key, "0"));
        }

        /** Replication origins are bounded by their own setting from 18 on, by max_replication_slots before. */
        String originLimitSetting() {
            return major >= 18 ? "max_active_replication_origins" : "max_replication_slots";
        }
    }

    private final Side source;
    private final Side target;
    private final int newLinks;
    private final int databases;
    /** The configured copy workers, 0 when pgmigrate sizes them to the servers' spare connections. */
    private final int copyWorkers;
    private final List<Finding> findings;
    /** STREAM: the target connections each database's stream applies on; 0 for NATIVE. */
    private final int streamConnections;

    ServerChecks(Side source, Side target, int newLinks, int databases, int copyWorkers, List<Finding> findings,
                 int streamConnections) {
        this.streamConnections = streamConnections;
        this.copyWorkers = copyWorkers;
        this.source = source;
        this.target = target;
        this.newLinks = newLinks;
        this.databases = databases;
        this.findings = findings;
    }

    void run() {
        versions();
        walLevel();
        slotsAndSenders();
        if (streamConnections > 0) {
            streamApply();
        } else {
            workers();
            origins();
        }
        walRetention();
        privileges();
        connections(source);
        connections(target);
    }

    private void versions() {
        if (source.major() < MIN_SOURCE_MAJOR) {
            add(Severity.BLOCKER, "source_version", "server_version", "the source runs PostgreSQL " + source.major()
                    + "; pgmigrate needs " + MIN_SOURCE_MAJOR + " or later on the source", "upgrade the source to "
                    + MIN_SOURCE_MAJOR + " or later first (pg_upgrade), then migrate");
        }
        if (target.major() < MIN_TARGET_MAJOR) {
            add(Severity.BLOCKER, "target_version", "server_version", "the target runs PostgreSQL " + target.major()
                    + "; pgmigrate needs " + MIN_TARGET_MAJOR + " or later on the target", "use a target on "
                    + MIN_TARGET_MAJOR + " or later");
        }
        if (target.major() < source.major()) {
            add(Severity.WARNING, "version_pair", "server_version", "the target (" + target.major()
                    + ") is older than the source (" + source.major() + "): DDL and types the source uses may not"
                    + " exist on the target", "check the schema copy's result, or use a target at least as new");
        }
        if (source.major() >= 16 && target.major() >= 16) {
            add(Severity.INFO, "version_pair", "", "both servers run 16 or later: the reverse stream filters"
                    + " replicated changes with origin = none", "");
        } else {
            add(Severity.INFO, "version_pair", "", "one server runs a version before 16: at cutover the forward"
                    + " stream stops before the reverse stream starts (no origin filtering)", "");
        }
    }

    private void walLevel() {
        if (!"logical".equals(source.settings().get("wal_level"))) {
            add(Severity.BLOCKER, "wal_level", "source: wal_level", "the source has wal_level = "
                    + source.settings().get("wal_level") + "; logical replication needs logical",
                    "ALTER SYSTEM SET wal_level = logical; then restart the source");
        }
        if (!"logical".equals(target.settings().get("wal_level"))) {
            add(Severity.WARNING, "wal_level", "target: wal_level", "the target has wal_level = "
                    + target.settings().get("wal_level") + "; the reverse stream that cutover prepares (the way back)"
                    + " needs logical, so cutover would be abandoned", "ALTER SYSTEM SET wal_level = logical; then"
                    + " restart the target before the cutover");
        }
    }

    private void slotsAndSenders() {
        // STREAM copies in the slot's snapshot only: no table-copy slots of PostgreSQL's table synchronisation
        int sync = streamConnections > 0 ? 0 : Math.max(1, target.setting("max_sync_workers_per_subscription"));
        int freeSlots = source.setting("max_replication_slots") - source.usedSlots();
        if (freeSlots < newLinks) {
            add(Severity.BLOCKER, "max_replication_slots", "source: max_replication_slots", "the source has "
                    + freeSlots + " free replication slots and the migration needs " + newLinks
                    + " (one per database), plus one per table copied at a time",
                    "ALTER SYSTEM SET max_replication_slots = " + (source.usedSlots() + newLinks * (1 + sync) + 2)
                            + "; then restart the source");
        } else if (freeSlots < newLinks * (1 + sync)) {
            add(Severity.WARNING, "max_replication_slots", "source: max_replication_slots", "the source has "
                    + freeSlots + " free replication slots: enough for the streams, not for "
                    + sync + " parallel table copies per database, so the initial copy runs slower",
                    "ALTER SYSTEM SET max_replication_slots = " + (source.usedSlots() + newLinks * (1 + sync) + 2)
                            + "; then restart the source");
        }
        int freeSenders = source.setting("max_wal_senders") - source.usedSenders();
        if (freeSenders < newLinks) {
            add(Severity.BLOCKER, "max_wal_senders", "source: max_wal_senders", "the source has " + freeSenders
                    + " free WAL senders and the migration needs " + newLinks + " (one per database) plus one per"
                    + " table copied at a time", "ALTER SYSTEM SET max_wal_senders = "
                    + (source.usedSenders() + newLinks * (1 + sync) + 2) + "; then restart the source");
        }
        int targetSlots = target.setting("max_replication_slots") - target.usedSlots();
        if (targetSlots < databases) {
            add(Severity.WARNING, "max_replication_slots", "target: max_replication_slots", "the target has "
                    + targetSlots + " free replication slots; the reverse stream that cutover prepares needs "
                    + databases + " (one per database), so cutover would be abandoned",
                    "ALTER SYSTEM SET max_replication_slots = " + (target.usedSlots() + databases + 2)
                            + "; then restart the target before the cutover");
        }
        int targetSenders = target.setting("max_wal_senders") - target.usedSenders();
        if (targetSenders < databases) {
            add(Severity.WARNING, "max_wal_senders", "target: max_wal_senders", "the target has " + targetSenders
                    + " free WAL senders; the reverse stream after cutover needs " + databases,
                    "ALTER SYSTEM SET max_wal_senders = " + (target.usedSenders() + databases + 2)
                            + "; then restart the target before the cutover");
        }
    }

    private void workers() {
        int sync = target.setting("max_sync_workers_per_subscription");
        if (sync < 1) {
            add(Severity.BLOCKER, "max_sync_workers_per_subscription", "target: max_sync_workers_per_subscription",
                    "the target allows no table-copy workers, so the initial copy cannot run",
                    "ALTER SYSTEM SET max_sync_workers_per_subscription = 2; SELECT pg_reload_conf();");
        }
        int needed = newLinks + 1;
        int logical = target.setting("max_logical_replication_workers");
        if (logical < needed) {
            add(Severity.BLOCKER, "max_logical_replication_workers", "target: max_logical_replication_workers",
                    "the target allows " + logical + " logical replication workers; the migration needs one per"
                            + " database (" + newLinks + ") plus copy workers",
                    "ALTER SYSTEM SET max_logical_replication_workers = " + (newLinks * (1 + Math.max(1, sync)) + 2)
                            + "; then restart the target");
        }
        if (target.setting("max_worker_processes") < Math.min(logical, needed) + 1) {
            add(Severity.BLOCKER, "max_worker_processes", "target: max_worker_processes", "the target allows "
                    + target.setting("max_worker_processes") + " background workers, fewer than the logical"
                    + " replication workers the migration needs plus the launcher",
                    "ALTER SYSTEM SET max_worker_processes = " + (needed + 8) + "; then restart the target");
        }
        if (source.setting("max_logical_replication_workers") < databases + 1
                || source.setting("max_worker_processes") < databases + 2) {
            add(Severity.WARNING, "max_logical_replication_workers", "source: max_logical_replication_workers",
                    "after cutover the source applies the reverse stream with one worker per database (" + databases
                            + "); it allows " + source.setting("max_logical_replication_workers")
                            + " logical replication workers and " + source.setting("max_worker_processes")
                            + " background workers", "ALTER SYSTEM SET max_logical_replication_workers = "
                            + (databases + 2) + "; ALTER SYSTEM SET max_worker_processes = " + (databases + 8)
                            + "; then restart the source before the cutover");
        }
    }

    private void origins() {
        int sync = Math.max(1, target.setting("max_sync_workers_per_subscription"));
        String key = target.originLimitSetting();
        int limit = target.setting(key);
        // Each subscription tracks an origin, and so does each table-copy worker while it runs.
        int needed = target.usedOrigins() + newLinks * (1 + sync);
        if (limit < target.usedOrigins() + newLinks) {
            add(Severity.BLOCKER, "replication_origins", "target: " + key, "the target tracks at most " + limit
                    + " replication origins (" + key + ") and " + target.usedOrigins() + " exist; every subscription"
                    + " needs one, and each table copy one more while it runs",
                    "ALTER SYSTEM SET " + key + " = " + (needed + 2) + "; then restart the target");
        } else if (limit < needed) {
            add(Severity.WARNING, "replication_origins", "target: " + key, "the target tracks at most " + limit
                    + " replication origins (" + key + "): table copies of " + newLinks + " databases at once need "
                    + needed + "; the copy fails and retries until some finish", "ALTER SYSTEM SET " + key + " = "
                    + (needed + 2) + "; then restart the target");
        }
    }

    /**
     * STREAM applies on each side it streams into with {@code streamConnections} sessions per database, each in replica
     * mode under a replication origin of its own: the target from start() on, the source after a cutover.
     */
    private void streamApply() {
        for (Side s : List.of(target, source)) {
            boolean now = s == target;
            if (!s.streamApply()) {
                add(now ? Severity.BLOCKER : Severity.WARNING, now ? "target_privileges" : "source_privileges",
                        s.role(), (now ? "the STREAM engine applies changes on the target" : "at cutover the reverse"
                        + " stream applies changes on the source") + " in replica mode under replication origins,"
                        + " which needs a superuser" + (s.major() >= 15 ? " or a role granted SET on"
                        + " session_replication_role and EXECUTE on the replication origin functions" : ""),
                        s.major() >= 15 ? "GRANT SET ON PARAMETER session_replication_role TO " + quote(s.role())
                                + "; GRANT EXECUTE ON FUNCTION pg_replication_origin_create, pg_replication_origin_drop,"
                                + " pg_replication_origin_session_setup TO " + quote(s.role()) + ";"
                                : "ALTER ROLE " + quote(s.role()) + " SUPERUSER;");
            }
            String key = s.originLimitSetting();
            int needed = s.usedOrigins() + (now ? newLinks : databases) * streamConnections;
            if (s.setting(key) < needed) {
                add(now ? Severity.BLOCKER : Severity.WARNING, "replication_origins", s.name() + ": " + key,
                        "the " + s.name() + " tracks at most " + s.setting(key) + " replication origins (" + key
                        + ") and " + s.usedOrigins() + " exist; the STREAM engine applies each database on "
                        + streamConnections + " sessions with an origin each" + (now ? "" : " (the reverse stream,"
                        + " after cutover)"), "ALTER SYSTEM SET " + key + " = " + (needed + 2) + "; then restart the "
                        + s.name() + (now ? "" : " before the cutover"));
            }
        }
    }

    private void walRetention() {
        if (source.walBytes() >= 0) {
            add(Severity.INFO, "wal_headroom", "source: pg_wal", "the source's WAL directory holds "
                    + source.walBytes() / (1 << 20) + " MB now; from start() until the target confirms, the slot keeps"
                    + " all WAL written meanwhile, so the WAL disk needs room for the writes of the initial copy's"
                    + " duration (free space is not readable through SQL)", "");
        }
        long keep = Long.parseLong(source.settings().getOrDefault("max_slot_wal_keep_size", "-1"));
        if (keep < 0) {
            add(Severity.INFO, "max_slot_wal_keep_size", "source: max_slot_wal_keep_size", "the source keeps WAL"
                    + " for the migration's slot without limit: a stalled target makes the source's WAL grow until"
                    + " its disk is full; watch status().lagBytes()", "");
        } else if (keep < SMALL_WAL_KEEP_MB) {
            add(Severity.WARNING, "max_slot_wal_keep_size", "source: max_slot_wal_keep_size", "the source drops WAL"
                    + " a slot still needs beyond " + keep + " MB; a long initial copy under write load can exceed"
                    + " that and invalidate the slot, and the migration must start over",
                    "ALTER SYSTEM SET max_slot_wal_keep_size = '64GB'; SELECT pg_reload_conf();");
        }
    }

    private void privileges() {
        if (!source.superuser() && !source.replication()) {
            add(Severity.BLOCKER, "source_privileges", source.role(), "the migration role can neither replicate nor"
                    + " is it a superuser on the source", "ALTER ROLE " + quote(source.role()) + " REPLICATION;");
        }
        if (streamConnections == 0 && !target.superuser() && !(target.major() >= 16 && target.createSubscription())) {
            add(Severity.BLOCKER, "target_privileges", target.role(), "creating subscriptions on the target needs a"
                    + " superuser" + (target.major() >= 16 ? " or a member of pg_create_subscription" : ""),
                    target.major() >= 16 ? "GRANT pg_create_subscription TO " + quote(target.role()) + ";"
                            : "ALTER ROLE " + quote(target.role()) + " SUPERUSER;");
        }
        if (streamConnections == 0 && !source.superuser() && !(source.major() >= 16 && source.createSubscription())) {
            add(Severity.WARNING, "source_privileges", source.role(), "at cutover the source subscribes to the"
                    + " target (the way back); that needs a superuser"
                    + (source.major() >= 16 ? " or a member of pg_create_subscription" : "") + " on the source",
                    source.major() >= 16 ? "GRANT pg_create_subscription TO " + quote(source.role()) + ";"
                            : "ALTER ROLE " + quote(source.role()) + " SUPERUSER;");
        }
        if (!target.superuser() && !target.replication()) {
            add(Severity.WARNING, "target_privileges", target.role(), "at cutover the target publishes the reverse"
                    + " stream, which needs REPLICATION on the target", "ALTER ROLE " + quote(target.role())
                    + " REPLICATION;");
        }
        for (Side s : List.of(source, target)) {
            if (!s.superuser() && !s.seeAndSignal()) {
                // start() fences the target at once; the source only at cutover.
                boolean atStart = s == target;
                add(atStart ? Severity.BLOCKER : Severity.WARNING, "fence_privileges", s.name() + ": " + s.role(),
                        "the fence must see and end other sessions' transactions on the " + s.name()
                        + "; without superuser, pg_read_all_stats and pg_signal_backend " + (atStart
                        ? "start() cannot fence the target against stray writes" : "the cutover refuses to fence"),
                        "GRANT pg_read_all_stats, pg_signal_backend TO " + quote(s.role()) + ";");
            }
        }
    }

    private void connections(Side s) {
        // The migration keeps a connection per database per side, plus short ones for checks and the fence, plus one
        // per copy worker on each side while the initial copy runs (sized to what is spare when not configured).
        int needed = databases * 2 + 2 + Math.max(1, copyWorkers) + databases * streamConnections;
        int free = s.setting("max_connections") - s.connections();
        if (free < needed) {
            add(Severity.WARNING, "connection_limit", s.name() + ": max_connections", "the " + s.name() + " has "
                    + free + " free connections; the migration uses up to " + needed, "ALTER SYSTEM SET"
                    + " max_connections = " + (s.setting("max_connections") + needed) + "; then restart the "
                    + s.name());
        }
        if (s.connLimit() >= 0 && s.connLimit() < needed) {
            add(Severity.WARNING, "connection_limit", s.role(), "the migration role may open " + s.connLimit()
                    + " connections to the " + s.name() + "; the migration uses up to " + needed,
                    "ALTER ROLE " + quote(s.role()) + " CONNECTION LIMIT " + (needed + 4) + ";");
        }
    }

    private void add(Severity severity, String check, String object, String message, String fix) {
        findings.add(new Finding(severity, check, "", object, message, fix));
    }
}
