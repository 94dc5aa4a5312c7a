package io.pgmigrate;

import java.nio.file.Path;
import java.util.Optional;

/**
 * Where a migration keeps its journal between calls and across restarts of the JVM. Documents are small text (JSON);
 * a {@link #save} must replace the previous document atomically, so a crash leaves either the old or the new one.
 * Documents never contain passwords.
 *
 * @since 0.1.0
 */
public interface StateStore {

    /**
     * The document saved under {@code key}, if any.
     *
     * @param key the document's key
     * @return the document; empty when none is saved under {@code key}
     */
    Optional<String> load(String key);

    /**
     * Replaces the document under {@code key} atomically.
     *
     * @param key      the document's key
     * @param document the new document
     */
    void save(String key, String document);

    /**
     * Removes the document under {@code key}; nothing happens when there is none.
     *
     * @param key the document's key
     */
    void delete(String key);

    /**
     * The default store: one file per key in {@code directory}, created when missing. Its keys are 1 to 200 characters
     * of {@code [A-Za-z0-9_.-]}: it throws {@link IllegalArgumentException} for any other key, and
     * {@link PgMigrateException} with {@link CoreErrorCode#STATE_STORE_FAILED} when a file cannot be read or written.
     *
     * @param directory the directory that holds the files
     * @return the store
     * @throws IllegalArgumentException when {@code directory} is null
     */
    static StateStore directory(Path directory) {
        return new DirectoryStateStore(directory);
    }
}
