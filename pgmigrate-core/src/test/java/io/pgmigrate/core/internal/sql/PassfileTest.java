package io.pgmigrate.core.internal.sql;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

class PassfileTest {

    @Test
    void firstMatchingLineWinsWithWildcardsAndEscapes(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("pgpass");
        Files.writeString(f, """
                # comment
                other:5432:*:app:wrong
                db1:5432:shop:app:pa\\:ss\\\\word
                *:*:*:app:fallback
                """);
        assertThat(Passfile.lookup(f, "db1", 5432, "shop", "app")).contains("pa:ss\\word");
        assertThat(Passfile.lookup(f, "db2", 6000, "x", "app")).contains("fallback");
        assertThat(Passfile.lookup(f, "db2", 6000, "x", "nobody")).isEmpty();
    }
}
