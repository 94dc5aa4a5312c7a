package io.pgmigrate.pacemaker;

import io.pgmigrate.CoreErrorCode;
import io.pgmigrate.PgMigrateException;
import io.pgmigrate.StateStore;

import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.List;
import java.util.Optional;

/**
 * Keeps the migration's journal in the cluster's configuration, as a cluster property
 * ({@code crm_attribute --type crm_config}), so that every node reads the same state and a migration resource that
 * Pacemaker moves to another node resumes where it stopped. The document is stored base64-encoded under
 * {@code pgmigrate-state-<key>}; each save is one CIB update. The journal holds no secret.
 */
public final class CibStateStore implements StateStore {

    private final CommandRunner runner;

    public CibStateStore(CommandRunner runner) {
        this.runner = runner;
    }

    private static String property(String key) {
        if (!key.matches("[A-Za-z0-9_.-]+")) {
            throw new IllegalArgumentException("state key must be letters, digits, _ . -, was '" + key + "'");
        }
        return "pgmigrate-state-" + key;
    }

    @Override
    public Optional<String> load(String key) {
        CommandRunner.Result r = runner.attempt(List.of("crm_attribute", "--type", "crm_config", "--name",
                property(key), "--query", "--quiet"));
        if (r.exitCode() != 0) {
            // crm_attribute exits with 105 (no such object) when the property is not set; older versions with 6.
            if (r.exitCode() == 105 || r.exitCode() == 6 || r.stderr().contains("No such")) {
                return Optional.empty();
            }
            throw new PgMigrateException(CoreErrorCode.STATE_STORE_FAILED, "reading the state from the CIB failed"
                    + " (crm_attribute exit code " + r.exitCode() + "): " + r.stderr().strip());
        }
        String value = r.out();
        if (value.isEmpty()) {
            return Optional.empty();
        }
        try {
            return Optional.of(new String(Base64.getDecoder().decode(value), StandardCharsets.UTF_8));
        } catch (IllegalArgumentException e) {
            throw new PgMigrateException(CoreErrorCode.STATE_STORE_FAILED, null, "the CIB property " + property(key)
                    + " does not hold pgmigrate state; delete it with crm_attribute --type crm_config --name "
                    + property(key) + " --delete", e);
        }
    }

    @Override
    public void save(String key, String document) {
        String value = Base64.getEncoder().encodeToString(document.getBytes(StandardCharsets.UTF_8));
        // Not runner.run(): its error would quote the whole command line, the document included.
        CommandRunner.Result r = runner.attempt(List.of("crm_attribute", "--type", "crm_config", "--name",
                property(key), "--update", value));
        if (r.exitCode() != 0) {
            throw new PgMigrateException(CoreErrorCode.STATE_STORE_FAILED, "writing the state to the CIB failed"
                    + " (crm_attribute exit code " + r.exitCode() + "): " + r.stderr().strip());
        }
    }

    @Override
    public void delete(String key) {
        try {
            runner.runAccepting(List.of("crm_attribute", "--type", "crm_config", "--name", property(key), "--delete"),
                    PacemakerVip.NO_SUCH_OBJECT, 6);
        } catch (PgMigrateException e) {
            throw new PgMigrateException(CoreErrorCode.STATE_STORE_FAILED, null, "deleting the state from the CIB failed: "
                    + e.getMessage(), e);
        }
    }

    @Override
    public String toString() {
        return "CIB (crm_config properties pgmigrate-state-*)";
    }
}
