package io.pgmigrate.testkit.internal;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * The server settings every test server gets, embedded or in a container: sized for several databases replicating in
 * both directions at once, and tuned for speed rather than durability.
 */
public final class ServerSettings {

    private static final Pattern KEY = Pattern.compile("[A-Za-z_][A-Za-z0-9_]*(\\.[A-Za-z_][A-Za-z0-9_]*)?");

    private static final Map<String, String> DEFAULTS;

    static {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("wal_level", "logical");
        m.put("max_replication_slots", "40");
        m.put("max_wal_senders", "40");
        m.put("max_worker_processes", "40");
        m.put("max_logical_replication_workers", "30");
        m.put("max_sync_workers_per_subscription", "4");
        m.put("max_connections", "200");
        // Test servers are thrown away, so durability buys nothing and costs seconds.
        m.put("fsync", "off");
        m.put("synchronous_commit", "off");
        m.put("full_page_writes", "off");
        // Before 16 the launcher starts missing apply workers at most once per interval (5 s by default): the second
        // of two subscriptions enabled a moment apart waited that long. It also spaces the restarts of a failed one.
        m.put("wal_retrieve_retry_interval", "200ms");
        DEFAULTS = Collections.unmodifiableMap(m);
    }

    private ServerSettings() {
    }

    /** The settings in a stable order. */
    public static Map<String, String> defaults() {
        return DEFAULTS;
    }

    /**
     * The settings for a server of {@code major}: from 18 on, replication origins have their own limit,
     * {@code max_active_replication_origins} (default 10), which every subscription and each of its table-sync workers
     * count against; it gets the same room as slots.
     */
    public static Map<String, String> defaults(int major) {
        if (major < 18) {
            return DEFAULTS;
        }
        Map<String, String> m = new LinkedHashMap<>(DEFAULTS);
        m.put("max_active_replication_origins", DEFAULTS.get("max_replication_slots"));
        return Collections.unmodifiableMap(m);
    }

    /**
     * Checks a setting name: letters, digits and underscores, optionally one dot for extension settings.
     *
     * @throws IllegalArgumentException naming the key when it is not a plausible setting name
     */
    public static String checkKey(String key) {
        if (key == null || !KEY.matcher(key).matches()) {
            throw new IllegalArgumentException("not a PostgreSQL setting name: " + key
                    + " (expected letters, digits and underscores, such as max_wal_senders)");
        }
        return key;
    }

    /**
     * Checks a setting value: any text but line breaks and NUL, which a configuration file line cannot hold.
     *
     * @throws IllegalArgumentException naming the key and saying what is wrong with the value
     */
    public static String checkValue(String key, String value) {
        if (value == null) {
            throw new IllegalArgumentException("value of setting " + key + " must not be null");
        }
        if (value.indexOf('\n') >= 0 || value.indexOf('\r') >= 0 || value.indexOf('\0') >= 0) {
            throw new IllegalArgumentException("value of setting " + key
                    + " must not contain line breaks or NUL characters");
        }
        return value;
    }

    /**
     * One {@code postgresql.conf} line setting {@code key} to exactly {@code value}: quoted, with quotes doubled and
     * backslashes escaped, because the configuration file parser reads backslash escapes inside quotes.
     */
    public static String confLine(String key, String value) {
        checkKey(key);
        checkValue(key, value);
        return key + " = '" + value.replace("\\", "\\\\").replace("'", "''") + "'";
    }
}
