package io.pgmigrate;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class DirectoryStateStoreTest {

    @Test
    void savesReplacesLoadsAndDeletes(@TempDir Path dir) throws Exception {
        StateStore store = StateStore.directory(dir.resolve("nested"));
        assertThat(store.load("m1")).isEmpty();
        store.save("m1", "{\"a\": 1}");
        store.save("m1", "{\"a\": 2}");
        assertThat(store.load("m1")).contains("{\"a\": 2}");
        try (var files = Files.list(dir.resolve("nested"))) {
            assertThat(files.map(p -> p.getFileName().toString())).containsExactly("m1.json");
        }
        store.delete("m1");
        assertThat(store.load("m1")).isEmpty();
    }

    @Test
    void keysThatCouldEscapeTheDirectoryAreRejected(@TempDir Path dir) {
        assertThatThrownBy(() -> StateStore.directory(dir).save("../evil", "x"))
                .isInstanceOf(IllegalArgumentException.class);
    }
}
