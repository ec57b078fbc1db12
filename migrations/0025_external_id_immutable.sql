-- An integration's external id never changes (issue 24, "Isolation"): set once when the
-- integration is created, cleared only by revocation (the tombstone keeps none), never set
-- again or to another value, whichever role writes. The customer's trust policy names it, so a
-- changed external id would let one workspace's role be assumed for another's integration.
CREATE FUNCTION integrations_external_id_immutable() RETURNS trigger
    LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
BEGIN
    IF NEW.external_id IS NOT NULL AND NEW.external_id IS DISTINCT FROM OLD.external_id THEN
        RAISE EXCEPTION 'the external id of integration % cannot change (only revocation clears it)', OLD.integration_id
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION integrations_external_id_immutable() FROM PUBLIC;

CREATE TRIGGER external_id_immutable BEFORE UPDATE OF external_id ON integrations
    FOR EACH ROW EXECUTE FUNCTION integrations_external_id_immutable();
