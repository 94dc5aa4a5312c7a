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

    /** The document saved under {@code key}, if any. */
    Optional<String> load(String key);

    /** Replaces the document under {@code key} atomically. */
    void save(String key, String document);

    /** Removes the document under {@code key}; nothing happens when there is none. */
    void delete(String key);

    /** The default store: one file per key in {@code directory}, created when missing. */
    static StateStore directory(Path directory) {
        return new DirectoryStateStore(directory);
    }
}
