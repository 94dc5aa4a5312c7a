package io.pgmigrate.core.internal.state;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonValue;
import io.pgmigrate.Lsn;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.DeserializationFeature;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.SerializationFeature;
import tools.jackson.databind.cfg.DateTimeFeature;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.node.ArrayNode;
import tools.jackson.databind.node.ObjectNode;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The journal's text: JSON, written and read by Jackson from {@link JournalDocument}. Every document carries its
 * {@code format}. This version writes {@value #CURRENT} and reads every older format, upgrading it in memory (the next
 * save writes the current one); a document of a newer format, or one that is not a journal, is refused with a message
 * that says so, and is never written over.
 *
 * <p>Formats: 1 kept each database's objects as boolean members ({@code "publication": true}) and a finished move's
 * steps as {@code [name, nanoseconds]} pairs; 2 keeps them as a {@code flags} list and as {@code {name, duration}}
 * objects; 3 adds a database's {@code copy} (the initial copy pgmigrate runs itself, chunk by chunk), which a format 2
 * document never has, so it reads as 3 unchanged.
 */
public final class JournalFormat {

    /** The format this version writes. */
    public static final int CURRENT = 3;

    /** Format 1's member names of the database flags. */
    private static final Map<String, Flag> V1_FLAGS = Map.of(
            "publication", Flag.PUBLICATION,
            "subscription", Flag.SUBSCRIPTION,
            "reversePublication", Flag.REVERSE_PUBLICATION,
            "reverseSubscription", Flag.REVERSE_SUBSCRIPTION,
            "fence.SOURCE", Flag.SOURCE_FENCE,
            "fence.TARGET", Flag.TARGET_FENCE,
            "targetDatabaseCreated", Flag.TARGET_DATABASE_CREATED,
            "schemaCopied", Flag.SCHEMA_COPIED,
            "outboundCreatedByCutover", Flag.OUTBOUND_CREATED_BY_CUTOVER,
            "outboundCreatedByRollback", Flag.OUTBOUND_CREATED_BY_ROLLBACK);

    /** A log position is written as PostgreSQL prints it. */
    abstract static class LsnAsText {

        @JsonValue
        @Override
        public abstract String toString();

        @JsonCreator
        static Lsn parse(String text) {
            throw new AssertionError("a mix-in, never called");
        }
    }

    private static final JsonMapper MAPPER = JsonMapper.builder()
            // a member this version does not know would be lost by the next save: refuse instead
            .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
            .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES)
            .enable(SerializationFeature.INDENT_OUTPUT)
            .disable(DateTimeFeature.WRITE_DATES_AS_TIMESTAMPS)
            .disable(DateTimeFeature.WRITE_DURATIONS_AS_TIMESTAMPS)
            .changeDefaultPropertyInclusion(i -> i.withValueInclusion(JsonInclude.Include.NON_ABSENT))
            .addMixIn(Lsn.class, LsnAsText.class)
            .build();

    private JournalFormat() {
    }

    /** The document's text. */
    public static String write(JournalDocument doc) {
        return MAPPER.writeValueAsString(doc);
    }

    /**
     * Reads a document of this or an older format.
     *
     * @throws IllegalArgumentException naming what is wrong, when the text is not a journal this version reads
     */
    public static JournalDocument read(String text) {
        JsonNode tree;
        try {
            tree = MAPPER.readTree(text);
        } catch (JacksonException e) {
            throw new IllegalArgumentException("it is not JSON (" + e.getOriginalMessage() + ")", e);
        }
        if (!(tree instanceof ObjectNode doc) || !doc.path("format").isIntegralNumber()) {
            throw new IllegalArgumentException("it is not a pgmigrate journal: it has no format number");
        }
        int format = doc.get("format").asInt();
        if (format > CURRENT) {
            throw new IllegalArgumentException("it was written by a newer pgmigrate (journal format " + format
                    + "; this version reads formats 1 to " + CURRENT + "): go on with that version, or a newer one");
        }
        if (format < 1) {
            throw new IllegalArgumentException("it has journal format " + format + ", which no pgmigrate wrote");
        }
        if (format == 1) {
            upgradeFrom1(doc);
        }
        try {
            return MAPPER.treeToValue(doc, JournalDocument.class);
        } catch (JacksonException e) {
            throw new IllegalArgumentException("it does not hold what a format " + format + " journal holds ("
                    + e.getOriginalMessage() + ")", e);
        }
    }

    /** The generation of a stored document, 0 for a document without one; refuses text that is not JSON. */
    public static long generationOf(String text) {
        try {
            return MAPPER.readTree(text).path("generation").asLong(0);
        } catch (JacksonException e) {
            throw new IllegalArgumentException("it is not JSON (" + e.getOriginalMessage() + ")", e);
        }
    }

    private static void upgradeFrom1(ObjectNode doc) {
        if (doc.get("databases") instanceof ObjectNode dbs) {
            for (String db : new ArrayList<>(dbs.propertyNames())) {
                if (!(dbs.get(db) instanceof ObjectNode entry)) {
                    continue;
                }
                ObjectNode upgraded = MAPPER.createObjectNode();
                ArrayNode flags = upgraded.putArray("flags");
                for (String member : new ArrayList<>(entry.propertyNames())) {
                    JsonNode value = entry.get(member);
                    if (member.equals("phase")) {
                        upgraded.set("phase", value);
                    } else if (V1_FLAGS.containsKey(member)) {
                        if (value.asBoolean(false)) {
                            flags.add(V1_FLAGS.get(member).name());
                        }
                    } else {
                        throw new IllegalArgumentException("its database '" + db + "' has the member '" + member
                                + "', which journal format 1 does not have");
                    }
                }
                dbs.set(db, upgraded);
            }
        }
        if (doc.get("lastCutover") instanceof ObjectNode last && last.get("steps") instanceof ArrayNode steps) {
            List<JsonNode> pairs = new ArrayList<>(steps.values());
            ArrayNode upgraded = last.putArray("steps");
            for (JsonNode pair : pairs) {
                ObjectNode step = upgraded.addObject();
                step.set("name", pair.path(0));
                step.put("duration", Duration.ofNanos(pair.path(1).asLong()).toString());
            }
        }
        doc.put("format", CURRENT);
    }
}
