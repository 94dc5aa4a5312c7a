package io.pgmigrate.pacemaker;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The status file the OCF monitor reads stays fresh while the supervisor's thread is busy in a long call (a cutover
 * waiting for a backlog: review F7, the monitor killed cutovers longer than 60 s), and goes stale once the
 * supervisor has been quiet for longer than any call may take.
 */
class StatusFileTest {

    @Test
    void theFileIsRefreshedWhileTheSupervisorIsBusyAndLeftToAgeWhenItIsStuck(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("pgmigrate.status");
        try (StatusFile status = new StatusFile(file, Duration.ofMillis(100), Duration.ofMinutes(10))) {
            status.set("IN_SYNC", "");
            String first = Files.readString(file);
            assertThat(first).contains("state=IN_SYNC");
            // The supervisor reports nothing more (it is inside cutover()); the file is rewritten all the same.
            assertThat(awaitRewrite(file, 30_000)).as("rewritten while the supervisor is busy").isTrue();
            assertThat(Files.readString(file)).contains("state=IN_SYNC");

            status.allowQuiet(Duration.ZERO); // quiet for longer than any call may take: stuck
            awaitRewrite(file, 500); // a rewrite that had already started may still land
            assertThat(awaitRewrite(file, 1_000)).as("no longer rewritten once the supervisor is stuck").isFalse();
        }
    }

    /** Whether the file is replaced within {@code millis}, seen as a new file key (it is written by rename). */
    private static boolean awaitRewrite(Path file, long millis) throws Exception {
        Object before = Files.readAttributes(file, java.nio.file.attribute.BasicFileAttributes.class).fileKey();
        long deadline = System.nanoTime() + millis * 1_000_000;
        while (System.nanoTime() < deadline) {
            if (!before.equals(Files.readAttributes(file,
                    java.nio.file.attribute.BasicFileAttributes.class).fileKey())) {
                return true;
            }
            Thread.sleep(20);
        }
        return false;
    }
}
