package io.pgmigrate.core.internal;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Locale;

/**
 * Names of the objects a migration creates: {@code pgmigrate_<name>_<db>_<role>}. Replication slot names allow only
 * lower-case letters, digits and underscores, so every name is kept to those: a database name with other characters,
 * or a name over 63 bytes, is shortened and given a hash of the full name, which keeps it unique and deterministic.
 */
public final class ObjectNames {

    private static final int MAX = 63;

    private final String migration;

    public ObjectNames(String migration) {
        this.migration = migration;
    }

    public String publication(String database) {
        return name(database, "pub");
    }

    public String subscription(String database) {
        return name(database, "sub");
    }

    public String slot(String database) {
        return name(database, "slot");
    }

    /** The reverse stream's publication, on the target. */
    public String reversePublication(String database) {
        return name(database, "rpub");
    }

    /** The reverse stream's subscription, on the source. */
    public String reverseSubscription(String database) {
        return name(database, "rsub");
    }

    /** The reverse stream's slot, on the target. */
    public String reverseSlot(String database) {
        return name(database, "rslot");
    }

    /** The fence's schema, triggers and event trigger in the database. */
    public String fence(String database) {
        return name(database, "fence");
    }

    /** The DDL capture's schema and event trigger in the database, on both sides. */
    public String ddl(String database) {
        return name(database, "ddl");
    }

    /** The prefix every object of this migration starts with. */
    public String prefix() {
        return "pgmigrate_" + migration + "_";
    }

    String name(String database, String role) {
        String clean = database.toLowerCase(Locale.ROOT).replaceAll("[^a-z0-9_]", "_");
        String plain = prefix() + clean + "_" + role;
        if (clean.equals(database) && plain.length() <= MAX) {
            return plain;
        }
        String hash = sha256(database).substring(0, 8);
        String suffix = "_" + hash + "_" + role;
        int room = MAX - prefix().length() - suffix.length();
        return prefix() + clean.substring(0, Math.min(clean.length(), Math.max(0, room))) + suffix;
    }

    private static String sha256(String s) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
