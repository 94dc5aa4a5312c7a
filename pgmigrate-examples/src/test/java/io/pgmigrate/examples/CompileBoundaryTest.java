package io.pgmigrate.examples;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.tools.DiagnosticCollector;
import javax.tools.JavaCompiler;
import javax.tools.JavaFileObject;
import javax.tools.SimpleJavaFileObject;
import javax.tools.StandardJavaFileManager;
import javax.tools.ToolProvider;
import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.stream.Collectors;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A project that puts pgmigrate-api at compile scope and pgmigrate-core at runtime scope, as the README says, compiles
 * against the API and cannot compile against core's internals. The class paths are the ones Maven gives this project
 * (written by the dependency plugin, see the pom); the runtime one is the control that shows the internal class
 * exists and the failure comes from the scope alone.
 */
class CompileBoundaryTest {

    private static final String USES_API = """
            import io.pgmigrate.Migration;
            import io.pgmigrate.SchemaDiff;
            class UsesApi {
                io.pgmigrate.MigrationBuilder builder() { return Migration.builder(); }
                Class<?> diff() { return SchemaDiff.class; }
            }
            """;

    private static final String USES_INTERNALS = """
            import io.pgmigrate.core.internal.CoreMigrationProvider;
            class UsesInternals {
                Class<?> impl() { return CoreMigrationProvider.class; }
            }
            """;

    @TempDir
    Path out;

    @Test
    void theApiCompilesAtCompileScope() throws IOException {
        assertThat(compile("UsesApi", USES_API, "compile")).isEmpty();
    }

    @Test
    void coreInternalsDoNotCompileAtCompileScope() throws IOException {
        assertThat(compile("UsesInternals", USES_INTERNALS, "compile"))
                .contains("package io.pgmigrate.core.internal does not exist");
    }

    @Test
    void coreInternalsAreOnTheRuntimeClassPath() throws IOException {
        assertThat(compile("UsesInternals", USES_INTERNALS, "runtime")).isEmpty();
    }

    /** Compiles one source against a scope's class path; returns the compiler's errors, empty when it compiled. */
    private String compile(String className, String source, String scope) throws IOException {
        Path file = Path.of(System.getProperty("classpath.dir", "target/classpath"), scope + ".txt");
        assertThat(file).as("written by the dependency plugin in generate-test-resources").exists();
        String classPath = Files.readString(file, StandardCharsets.UTF_8).trim();
        assertThat(classPath).contains("pgmigrate-api");

        JavaCompiler compiler = ToolProvider.getSystemJavaCompiler();
        DiagnosticCollector<JavaFileObject> diagnostics = new DiagnosticCollector<>();
        try (StandardJavaFileManager files = compiler.getStandardFileManager(diagnostics, Locale.ROOT,
                StandardCharsets.UTF_8)) {
            JavaFileObject unit = new SimpleJavaFileObject(URI.create("string:///" + className + ".java"),
                    JavaFileObject.Kind.SOURCE) {
                @Override
                public CharSequence getCharContent(boolean ignoreEncodingErrors) {
                    return source;
                }
            };
            List<String> options = List.of("--release", "17", "-proc:none", "-classpath", classPath,
                    "-d", out.toString());
            compiler.getTask(null, files, diagnostics, options, null, List.of(unit)).call();
        }
        return diagnostics.getDiagnostics().stream()
                .filter(d -> d.getKind() == javax.tools.Diagnostic.Kind.ERROR)
                .map(d -> d.getMessage(Locale.ROOT))
                .collect(Collectors.joining("\n"));
    }
}
