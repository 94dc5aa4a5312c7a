package io.pgmigrate;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * {@link StateStore} keeping {@code <key>.json} files in a directory; writes go to a temporary file then move.
 *
 * @since 0.1.0
 */
final class DirectoryStateStore implements StateStore {

    private static final Pattern KEY = Pattern.compile("[A-Za-z0-9_.-]{1,200}");

    private final Path directory;

    DirectoryStateStore(Path directory) {
        if (directory == null) {
            throw new IllegalArgumentException("state directory must not be null");
        }
        this.directory = directory;
    }

    @Override
    public Optional<String> load(String key) {
        Path file = file(key);
        try {
            return Optional.of(Files.readString(file, StandardCharsets.UTF_8));
        } catch (NoSuchFileException e) {
            return Optional.empty();
        } catch (IOException e) {
            throw new PgMigrateException(CoreErrorCode.STATE_STORE_FAILED, null,
                    "cannot read state file " + file + ": " + e.getMessage(), e);
        }
    }

    @Override
    public void save(String key, String document) {
        Path file = file(key);
        try {
            Files.createDirectories(directory);
            Path tmp = directory.resolve(file.getFileName() + ".tmp");
            try (var ch = java.nio.channels.FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                    StandardOpenOption.TRUNCATE_EXISTING)) {
                ch.write(java.nio.ByteBuffer.wrap(document.getBytes(StandardCharsets.UTF_8)));
                ch.force(true);
            }
            try {
                Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING);
            }
            syncDirectory();
        } catch (IOException e) {
            throw new PgMigrateException(CoreErrorCode.STATE_STORE_FAILED, null,
                    "cannot write state file " + file + ": " + e.getMessage()
                            + " (check that the state directory is writable)", e);
        }
    }

    /** Makes the rename durable: without it an OS crash can lose the new directory entry. */
    private void syncDirectory() {
        try (var dir = java.nio.channels.FileChannel.open(directory, StandardOpenOption.READ)) {
            dir.force(true);
        } catch (IOException | UnsupportedOperationException e) {
            // Some platforms cannot open a directory as a channel; the move itself is still atomic there.
        }
    }

    @Override
    public void delete(String key) {
        Path file = file(key);
        try {
            if (Files.deleteIfExists(file)) {
                syncDirectory(); // else an OS crash could bring a completed migration's state back
            }
        } catch (IOException e) {
            throw new PgMigrateException(CoreErrorCode.STATE_STORE_FAILED, null,
                    "cannot delete state file " + file + ": " + e.getMessage(), e);
        }
    }

    private Path file(String key) {
        if (key == null || !KEY.matcher(key).matches()) {
            throw new IllegalArgumentException("state key must be 1-200 characters of [A-Za-z0-9_.-], was: " + key);
        }
        return directory.resolve(key + ".json");
    }

    @Override
    public String toString() {
        return "StateStore.directory(" + directory + ")";
    }
}
