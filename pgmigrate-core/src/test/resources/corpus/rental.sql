-- A film-rental store, in the style of the classic sample database (written for pgmigrate's tests).
CREATE DOMAIN public.year AS integer CONSTRAINT year_check CHECK (VALUE >= 1901 AND VALUE <= 2155);
CREATE DOMAIN public.email AS text CONSTRAINT email_check CHECK (VALUE ~ '^[^@\s]+@[^@\s]+$');
CREATE TYPE public.mpaa_rating AS ENUM ('G', 'PG', 'PG-13', 'R', 'NC-17');
CREATE COLLATION public.title_ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
CREATE TEXT SEARCH CONFIGURATION public.film_search (COPY = pg_catalog.english);
CREATE TEXT SEARCH DICTIONARY public.film_simple (TEMPLATE = pg_catalog.simple, STOPWORDS = english);
ALTER TEXT SEARCH CONFIGURATION public.film_search ALTER MAPPING FOR asciiword, word WITH public.film_simple, english_stem;

CREATE FUNCTION public.last_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.last_update := CURRENT_TIMESTAMP;
    RETURN NEW;
END
$$;

CREATE TABLE public.country (
    country_id serial PRIMARY KEY,
    country text NOT NULL,
    last_update timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE public.city (
    city_id serial PRIMARY KEY,
    city text NOT NULL,
    country_id integer NOT NULL REFERENCES public.country ON UPDATE CASCADE ON DELETE RESTRICT,
    last_update timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE public.address (
    address_id serial PRIMARY KEY,
    address text NOT NULL,
    address2 text,
    district text NOT NULL,
    city_id integer NOT NULL REFERENCES public.city ON UPDATE CASCADE ON DELETE RESTRICT,
    postal_code text,
    phone text NOT NULL,
    last_update timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE public.language (
    language_id serial PRIMARY KEY,
    name character(20) NOT NULL,
    last_update timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE public.category (
    category_id serial PRIMARY KEY,
    name text NOT NULL,
    last_update timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE public.actor (
    actor_id serial PRIMARY KEY,
    first_name text NOT NULL,
    last_name text NOT NULL,
    last_update timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idx_actor_last_name ON public.actor (last_name);
CREATE TABLE public.film (
    film_id serial PRIMARY KEY,
    title text COLLATE public.title_ci NOT NULL,
    description text,
    release_year public.year,
    language_id integer NOT NULL REFERENCES public.language ON UPDATE CASCADE ON DELETE RESTRICT,
    original_language_id integer REFERENCES public.language ON UPDATE CASCADE ON DELETE RESTRICT,
    rental_duration smallint NOT NULL DEFAULT 3,
    rental_rate numeric(4, 2) NOT NULL DEFAULT 4.99,
    length smallint,
    replacement_cost numeric(5, 2) NOT NULL DEFAULT 19.99,
    rating public.mpaa_rating DEFAULT 'G',
    last_update timestamptz NOT NULL DEFAULT now(),
    special_features text[],
    fulltext tsvector NOT NULL
);
ALTER TABLE public.film ALTER COLUMN description SET STORAGE EXTERNAL;
ALTER TABLE public.film ALTER COLUMN title SET STATISTICS 400;
CREATE INDEX film_fulltext_idx ON public.film USING gist (fulltext);
CREATE INDEX idx_title ON public.film (title);
CREATE FUNCTION public.film_words(t text) RETURNS tsvector LANGUAGE sql IMMUTABLE AS
    $$ SELECT to_tsvector('public.film_search', coalesce(t, '')) $$;
CREATE INDEX idx_film_words ON public.film USING gin (public.film_words(description));
CREATE TRIGGER film_fulltext_trigger BEFORE INSERT OR UPDATE ON public.film FOR EACH ROW
    EXECUTE FUNCTION tsvector_update_trigger(fulltext, 'pg_catalog.english', title, description);
CREATE TABLE public.film_actor (
    actor_id integer NOT NULL REFERENCES public.actor ON UPDATE CASCADE ON DELETE RESTRICT,
    film_id integer NOT NULL REFERENCES public.film ON UPDATE CASCADE ON DELETE RESTRICT,
    last_update timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (actor_id, film_id)
);
CREATE TABLE public.film_category (
    film_id integer NOT NULL REFERENCES public.film ON UPDATE CASCADE ON DELETE RESTRICT,
    category_id integer NOT NULL REFERENCES public.category ON UPDATE CASCADE ON DELETE RESTRICT,
    last_update timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (film_id, category_id)
);
CREATE TABLE public.store (
    store_id serial PRIMARY KEY,
    manager_staff_id integer NOT NULL,
    address_id integer NOT NULL REFERENCES public.address ON UPDATE CASCADE ON DELETE RESTRICT,
    last_update timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE public.staff (
    staff_id serial PRIMARY KEY,
    first_name text NOT NULL,
    last_name text NOT NULL,
    address_id integer NOT NULL REFERENCES public.address ON UPDATE CASCADE ON DELETE RESTRICT,
    email public.email,
    store_id integer NOT NULL REFERENCES public.store,
    active boolean NOT NULL DEFAULT true,
    username text NOT NULL,
    password text,
    last_update timestamptz NOT NULL DEFAULT now(),
    picture bytea
);
ALTER TABLE public.store ADD CONSTRAINT store_manager_staff_id_fkey FOREIGN KEY (manager_staff_id)
    REFERENCES public.staff DEFERRABLE INITIALLY DEFERRED;
CREATE TABLE public.customer (
    customer_id serial PRIMARY KEY,
    store_id integer NOT NULL REFERENCES public.store ON UPDATE CASCADE ON DELETE RESTRICT,
    first_name text NOT NULL,
    last_name text NOT NULL,
    email public.email,
    address_id integer NOT NULL REFERENCES public.address ON UPDATE CASCADE ON DELETE RESTRICT,
    activebool boolean NOT NULL DEFAULT true,
    create_date date NOT NULL DEFAULT CURRENT_DATE,
    last_update timestamptz DEFAULT now(),
    active integer
);
CREATE INDEX idx_last_name ON public.customer (last_name);
CREATE TABLE public.inventory (
    inventory_id serial PRIMARY KEY,
    film_id integer NOT NULL REFERENCES public.film ON UPDATE CASCADE ON DELETE RESTRICT,
    store_id integer NOT NULL REFERENCES public.store ON UPDATE CASCADE ON DELETE RESTRICT,
    last_update timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idx_store_id_film_id ON public.inventory (store_id, film_id);
CREATE TABLE public.rental (
    rental_id serial PRIMARY KEY,
    rental_date timestamptz NOT NULL,
    inventory_id integer NOT NULL REFERENCES public.inventory ON UPDATE CASCADE ON DELETE RESTRICT,
    customer_id integer NOT NULL REFERENCES public.customer ON UPDATE CASCADE ON DELETE RESTRICT,
    return_date timestamptz,
    staff_id integer NOT NULL REFERENCES public.staff,
    last_update timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX idx_unq_rental_rental_date_inventory_id_customer_id
    ON public.rental (rental_date, inventory_id, customer_id);
CREATE TABLE public.payment (
    payment_id serial NOT NULL,
    customer_id integer NOT NULL REFERENCES public.customer,
    staff_id integer NOT NULL REFERENCES public.staff,
    rental_id integer NOT NULL REFERENCES public.rental,
    amount numeric(5, 2) NOT NULL,
    payment_date timestamptz NOT NULL,
    PRIMARY KEY (payment_date, payment_id)
) PARTITION BY RANGE (payment_date);
CREATE TABLE public.payment_p2026_01 PARTITION OF public.payment
    FOR VALUES FROM ('2026-01-01 00:00:00+00') TO ('2026-02-01 00:00:00+00');
CREATE TABLE public.payment_p2026_02 PARTITION OF public.payment
    FOR VALUES FROM ('2026-02-01 00:00:00+00') TO ('2026-03-01 00:00:00+00');
CREATE TABLE public.payment_rest PARTITION OF public.payment DEFAULT;
CREATE INDEX idx_fk_payment_customer ON public.payment (customer_id);

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['actor', 'address', 'category', 'city', 'country', 'customer', 'film', 'film_actor',
                             'film_category', 'inventory', 'language', 'rental', 'staff', 'store'] LOOP
        EXECUTE format('CREATE TRIGGER last_updated BEFORE UPDATE ON public.%I FOR EACH ROW'
                       ' EXECUTE FUNCTION public.last_updated()', t);
    END LOOP;
END
$$;

-- Functions that return the tables' row types: created before the tables, they would fail.
CREATE FUNCTION public.rewards_report(min_monthly_purchases integer, min_dollar_amount_purchased numeric)
    RETURNS SETOF public.customer LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
    IF min_monthly_purchases = 0 THEN
        RAISE EXCEPTION 'minimum monthly purchases parameter must be > 0';
    END IF;
    RETURN QUERY
        SELECT c.* FROM public.customer c
        WHERE c.customer_id IN (SELECT p.customer_id FROM public.payment p
                                GROUP BY p.customer_id
                                HAVING sum(p.amount) > min_dollar_amount_purchased
                                   AND count(*) > min_monthly_purchases);
END
$$;
CREATE FUNCTION public.inventory_in_stock(p_inventory_id integer) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    RETURN NOT EXISTS (SELECT 1 FROM public.rental WHERE inventory_id = p_inventory_id AND return_date IS NULL);
END
$$;
CREATE FUNCTION public.film_in_stock(p_film_id integer, p_store_id integer, OUT p_film_count integer)
    RETURNS SETOF integer LANGUAGE sql AS $$
    SELECT inventory_id FROM public.inventory
    WHERE film_id = $1 AND store_id = $2 AND public.inventory_in_stock(inventory_id)
$$;
CREATE FUNCTION public.customer_films(c public.customer) RETURNS SETOF public.film LANGUAGE sql STABLE AS $$
    SELECT f.* FROM public.film f JOIN public.inventory i USING (film_id)
    JOIN public.rental r USING (inventory_id) WHERE r.customer_id = c.customer_id
$$;
CREATE FUNCTION public.last_day(timestamptz) RETURNS date LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT (date_trunc('month', $1) + interval '1 month' - interval '1 day')::date
$$;
CREATE FUNCTION public._group_concat(text, text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN $2 IS NULL THEN $1 WHEN $1 IS NULL THEN $2 ELSE $1 || ', ' || $2 END
$$;
CREATE AGGREGATE public.group_concat(text) (SFUNC = public._group_concat, STYPE = text);

-- Views over aggregates, the user's among them.
CREATE VIEW public.actor_info AS
    SELECT a.actor_id, a.first_name, a.last_name,
           public.group_concat(DISTINCT c.name) AS film_categories
    FROM public.actor a
    LEFT JOIN public.film_actor fa ON fa.actor_id = a.actor_id
    LEFT JOIN public.film_category fc ON fc.film_id = fa.film_id
    LEFT JOIN public.category c ON c.category_id = fc.category_id
    GROUP BY a.actor_id, a.first_name, a.last_name;
CREATE VIEW public.film_list AS
    SELECT f.film_id AS fid, f.title, f.description, c.name AS category, f.rental_rate AS price, f.length,
           f.rating, public.group_concat(a.first_name || ' ' || a.last_name) AS actors
    FROM public.category c
    LEFT JOIN public.film_category fc ON c.category_id = fc.category_id
    LEFT JOIN public.film f ON fc.film_id = f.film_id
    JOIN public.film_actor fa ON f.film_id = fa.film_id
    JOIN public.actor a ON fa.actor_id = a.actor_id
    GROUP BY f.film_id, f.title, f.description, c.name, f.rental_rate, f.length, f.rating;
CREATE VIEW public.sales_by_store AS
    SELECT ci.city || ',' || co.country AS store, m.first_name || ' ' || m.last_name AS manager,
           sum(p.amount) AS total_sales
    FROM public.payment p
    JOIN public.rental r ON p.rental_id = r.rental_id
    JOIN public.inventory i ON r.inventory_id = i.inventory_id
    JOIN public.store s ON i.store_id = s.store_id
    JOIN public.address a ON s.address_id = a.address_id
    JOIN public.city ci ON a.city_id = ci.city_id
    JOIN public.country co ON ci.country_id = co.country_id
    JOIN public.staff m ON s.manager_staff_id = m.staff_id
    GROUP BY co.country, ci.city, s.store_id, m.first_name, m.last_name;
CREATE MATERIALIZED VIEW public.rental_by_category AS
    SELECT c.name AS category, sum(p.amount) AS total_sales
    FROM public.payment p
    JOIN public.rental r ON p.rental_id = r.rental_id
    JOIN public.inventory i ON r.inventory_id = i.inventory_id
    JOIN public.film f ON i.film_id = f.film_id
    JOIN public.film_category fc ON f.film_id = fc.film_id
    JOIN public.category c ON fc.category_id = c.category_id
    GROUP BY c.name;
CREATE UNIQUE INDEX rental_category ON public.rental_by_category (category);
COMMENT ON AGGREGATE public.group_concat(text) IS 'comma-separated values, like MySQL''s';
COMMENT ON COLLATION public.title_ci IS 'titles compare without case';
COMMENT ON TEXT SEARCH CONFIGURATION public.film_search IS 'film descriptions';

-- One row in every table.
INSERT INTO public.country (country) VALUES ('Freedonia');
INSERT INTO public.city (city, country_id) VALUES ('Fredville', 1);
INSERT INTO public.address (address, district, city_id, phone) VALUES ('1 Main St', 'Old Town', 1, '555-0100');
INSERT INTO public.language (name) VALUES ('English');
INSERT INTO public.category (name) VALUES ('Comedy');
INSERT INTO public.actor (first_name, last_name) VALUES ('Groucho', 'Marx');
INSERT INTO public.film (title, description, release_year, language_id, rating, special_features)
    VALUES ('Duck Soup', 'A leader of a bankrupt country declares war', 1933, 1, 'PG', '{Trailers}');
INSERT INTO public.film_actor VALUES (1, 1);
INSERT INTO public.film_category VALUES (1, 1);
BEGIN;
INSERT INTO public.store (manager_staff_id, address_id) VALUES (1, 1);
INSERT INTO public.staff (first_name, last_name, address_id, email, store_id, username)
    VALUES ('Rufus', 'Firefly', 1, 'rufus@example.org', 1, 'rufus');
COMMIT;
INSERT INTO public.customer (store_id, first_name, last_name, email, address_id, active)
    VALUES (1, 'Margaret', 'Dumont', 'margaret@example.org', 1, 1);
INSERT INTO public.inventory (film_id, store_id) VALUES (1, 1);
INSERT INTO public.rental (rental_date, inventory_id, customer_id, staff_id) VALUES ('2026-01-05', 1, 1, 1);
INSERT INTO public.payment (customer_id, staff_id, rental_id, amount, payment_date)
    VALUES (1, 1, 1, 2.99, '2026-01-05'), (1, 1, 1, 0.99, '2026-02-07'), (1, 1, 1, 1.99, '2025-12-24');
