package io.pgmigrate.testkit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtensionConfigurationException;

import java.io.File;
import java.net.MalformedURLException;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class PostgresPairExtensionTest {

    @Test
    void providerPropertyAcceptsEitherNameInAnyCase() {
        assertThat(PostgresPairExtension.parseProvider("embedded")).isEqualTo(ServerProvider.EMBEDDED);
        assertThat(PostgresPairExtension.parseProvider("TestContainers")).isEqualTo(ServerProvider.TESTCONTAINERS);
        assertThatThrownBy(() -> PostgresPairExtension.parseProvider("docker"))
                .isInstanceOf(ExtensionConfigurationException.class)
                .hasMessageContaining("pgmigrate.testkit.provider=docker")
                .hasMessageContaining("embedded or testcontainers");
    }

    @Test
    void pairDefaultsToFourteenToEighteenOnEmbeddedServers() throws Exception {
        @PostgresPair
        class Defaults {
        }
        PostgresPair p = Defaults.class.getAnnotation(PostgresPair.class);

        assertThat(p.source()).isEqualTo(14);
        assertThat(p.target()).isEqualTo(18);
        assertThat(p.provider()).isEqualTo(ServerProvider.EMBEDDED);
    }

    /** Users of the embedded provider need not have Testcontainers, an optional dependency, on their class path. */
    @Test
    void embeddedSideLinksWithoutTestcontainersOnTheClassPath() throws Exception {
        String classPath = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        URL[] urls = Arrays.stream(classPath.split(File.pathSeparator))
                .filter(e -> !e.contains("testcontainers") && !e.contains("docker-java"))
                .map(PostgresPairExtensionTest::url)
                .toArray(URL[]::new);
        try (URLClassLoader loader = new URLClassLoader(urls, ClassLoader.getPlatformClassLoader())) {
            assertThatThrownBy(() -> Class.forName("org.testcontainers.DockerClientFactory", false, loader))
                    .isInstanceOf(ClassNotFoundException.class);
            for (String name : List.of("PostgresPairExtension", "PostgresPair", "Source", "Target", "ServerProvider",
                    "ServerPair", "PostgresServer", "EmbeddedPostgresServer", "PostgresBinaries")) {
                // Initializing links and verifies the class, which is where a stray reference would fail.
                Class<?> c = Class.forName("io.pgmigrate.testkit." + name, true, loader);
                c.getDeclaredMethods();
                c.getDeclaredFields();
            }
            Object extension = Class.forName("io.pgmigrate.testkit.PostgresPairExtension", true, loader)
                    .getDeclaredConstructor().newInstance();
            assertThat(extension.getClass().getClassLoader()).isSameAs(loader);
        }
    }

    private static URL url(String entry) {
        try {
            return Path.of(entry).toUri().toURL();
        } catch (MalformedURLException e) {
            throw new IllegalStateException(e);
        }
    }
}
