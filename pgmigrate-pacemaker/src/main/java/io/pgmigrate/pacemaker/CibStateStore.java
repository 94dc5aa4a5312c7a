package io.pgmigrate.pacemaker;

import io.pgmigrate.CoreErrorCode;
import io.pgmigrate.PgMigrateException;
import io.pgmigrate.StateStore;

import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.Optional;

/**
 * Keeps the migration's journal in the cluster's configuration, so that every node reads the same state and a
 * migration resource that Pacemaker moves to another node resumes where it stopped: a permanent node attribute
 * {@code pgmigrate-state-<key>}, base64-encoded, with one copy on every node, all written by one CIB update. Not a
 * cluster property: every change of one stalls the cluster's controller for about 2 s, a VIP move included
 * ({@link NodeAttributes}). The journal holds no secret.
 */
public final class CibStateStore implements StateStore {

    private final NodeAttributes attributes;

    public CibStateStore(CommandRunner runner) {
        this.attributes = new NodeAttributes(runner);
    }

    private static String name(String key) {
        if (!key.matches("[A-Za-z0-9_.-]+")) {
            throw new IllegalArgumentException("state key must be letters, digits, _ . -, was '" + key + "'");
        }
        return "pgmigrate-state-" + key;
    }

    @Override
    public Optional<String> load(String key) {
        Optional<String> value = attributes.get(name(key)).filter(v -> !v.isEmpty());
        if (value.isEmpty()) {
            return Optional.empty();
        }
        try {
            return Optional.of(new String(Base64.getDecoder().decode(value.get()), StandardCharsets.UTF_8));
        } catch (IllegalArgumentException e) {
            throw new PgMigrateException(CoreErrorCode.STATE_STORE_FAILED, null, "the CIB node attribute " + name(key)
                    + " does not hold pgmigrate state; delete it with cibadmin --delete-all --force --xpath"
                    + " \"//nodes//nvpair[@name='" + name(key) + "']\"", e);
        }
    }

    @Override
    public void save(String key, String document) {
        attributes.set(name(key), Base64.getEncoder().encodeToString(document.getBytes(StandardCharsets.UTF_8)));
    }

    @Override
    public void delete(String key) {
        attributes.delete(name(key));
    }

    @Override
    public String toString() {
        return "CIB (node attributes pgmigrate-state-*)";
    }
}
