package io.pgmigrate.core.it;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * Schemas built to look like real applications' (issue 14), each a script in {@code src/test/resources/corpus}: a film
 * rental store in the style of the classic sample database, a JSON API's database, and a Rails application whose
 * structure has hundreds of tables. Every table holds a row, so a copy shows rows arriving in each.
 */
final class SchemaCorpus {

    private SchemaCorpus() {
    }

    /** Domains, full-text search, functions returning SETOF tables, views over aggregates, partitioned payments. */
    static String rental() {
        return resource("rental.sql");
    }

    /** Many schemas, a money type with operators, an operator class and casts, aggregates over rows, RLS. */
    static String api(String database) {
        return resource("api.sql").replace("CURRENT_DB", database);
    }

    /** The roles the API's policies name: roles are server-wide and not copied. */
    static final String API_ROLES = """
            DO $$ BEGIN CREATE ROLE api_user; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
            DO $$ BEGIN CREATE ROLE api_admin; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
            """;

    /** The models of a Rails application beyond the hand-written part: 50 resources in four tables each. */
    private static final List<String> MODELS = List.of("accounts", "addresses", "announcements", "api_keys",
            "articles", "attachments", "audits", "authentications", "badges", "bookmarks", "carts", "categories",
            "channels", "checkouts", "comments", "companies", "coupons", "credentials", "deliveries", "departments",
            "devices", "discounts", "documents", "downloads", "drafts", "emails", "employees", "events", "exports",
            "favorites", "feedbacks", "files", "followers", "galleries", "groups", "identities", "imports",
            "integrations", "invitations", "invoices", "jobs", "labels", "leads", "licenses", "likes", "links",
            "lists", "locations", "memberships", "mentions");

    /** The Rails application: its hand-written structure and 200 generated tables, one row in each. */
    static String rails() {
        StringBuilder sql = new StringBuilder(resource("rails.sql"));
        for (String model : MODELS) {
            for (String table : List.of(model, model + "_archives", model + "_histories", model + "_settings")) {
                sql.append("""

                        CREATE TABLE public.%1$s (
                            id bigserial PRIMARY KEY,
                            user_id bigint,
                            name character varying,
                            status public.order_status DEFAULT 'cart'::public.order_status NOT NULL,
                            settings jsonb DEFAULT '{}'::jsonb NOT NULL,
                            position integer,
                            created_at timestamp(6) without time zone NOT NULL,
                            updated_at timestamp(6) without time zone NOT NULL
                        );
                        CREATE INDEX index_%1$s_on_user_id ON public.%1$s USING btree (user_id);
                        ALTER TABLE ONLY public.%1$s ADD CONSTRAINT fk_rails_%1$s_user FOREIGN KEY (user_id)
                            REFERENCES public.users(id);
                        CREATE TRIGGER set_updated_at BEFORE UPDATE ON public.%1$s FOR EACH ROW
                            EXECUTE FUNCTION public.set_updated_at();
                        INSERT INTO public.%1$s (user_id, name, created_at, updated_at) VALUES (1, '%1$s', now(), now());
                        """.formatted(table));
            }
        }
        return sql.toString();
    }

    private static String resource(String name) {
        try (InputStream in = SchemaCorpus.class.getResourceAsStream("/corpus/" + name)) {
            if (in == null) {
                throw new IllegalStateException("no test resource corpus/" + name);
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
