package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"switchboard/config"
	"switchboard/store"
	"switchboard/store/sealed"
)

const tokenInClear = "c0ffee0123456789c0ffee0123456789"

func testConfig(t *testing.T, env map[string]string) *config.Config {
	t.Helper()
	cfg, err := config.Load(envOf(env))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func twilioProvider() *store.Provider {
	return &store.Provider{Name: "tw", ProviderType: store.ProviderTypeChannel, APIType: store.APITypeTwilioMessaging,
		Config: json.RawMessage(`{"accountSid":"AC0123456789abcdef0123456789abcdef","authToken":"` + tokenInClear + `","fromNumber":"+15551234567"}`)}
}

// openSealed opens the database of cfg as serve does and returns the
// sealed store and the log.
func openSealed(t *testing.T, cfg *config.Config) (store.Store, string, error) {
	t.Helper()
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	raw, err := openStore(context.Background(), cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	st, err := sealStore(context.Background(), cfg, raw, log)
	if err != nil {
		raw.Close()
		return nil, logs.String(), err
	}
	return st, logs.String(), nil
}

func dbBytesContain(t *testing.T, dbPath, s string) bool {
	t.Helper()
	files, _ := filepath.Glob(dbPath + "*")
	for _, f := range files {
		if strings.HasSuffix(f, ".key") {
			continue
		}
		b, _ := os.ReadFile(f)
		if bytes.Contains(b, []byte(s)) {
			return true
		}
	}
	return false
}

// TestSQLiteSealsByDefault: with no SWITCHBOARD_SECRET_KEY, the first start
// creates DATABASE_PATH.key (0600) and secrets are sealed under it: the
// database files alone hold no usable token, and a restart opens them.
func TestSQLiteSealsByDefault(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "sb.db")
	cfg := testConfig(t, map[string]string{"DATABASE_URL": "sqlite:" + dbPath})
	st, logs, err := openSealed(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dbPath + ".key")
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}
	if !strings.Contains(logs, "generated secret key file") {
		t.Fatalf("logs: %s", logs)
	}
	p := twilioProvider()
	if err := st.CreateProvider(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if dbBytesContain(t, dbPath, tokenInClear) {
		t.Fatal("the database files hold the token in clear")
	}
	st, _, err = openSealed(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	got, err := st.GetProvider(context.Background(), p.ID)
	if err != nil || !strings.Contains(string(got.Config), tokenInClear) {
		t.Fatalf("after restart: %v", err)
	}
}

// TestPlaintextResealedAtStart: secrets stored in clear (by an older
// version, or with ALLOW_PLAINTEXT_SECRETS) are sealed at the first start
// that has a key.
func TestPlaintextResealedAtStart(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "sb.db")
	plain := testConfig(t, map[string]string{"DATABASE_URL": "sqlite:" + dbPath, "ALLOW_PLAINTEXT_SECRETS": "true"})
	st, logs, err := openSealed(t, plain)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateProvider(context.Background(), twilioProvider()); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if _, err := os.Stat(dbPath + ".key"); !os.IsNotExist(err) {
		t.Fatalf("ALLOW_PLAINTEXT_SECRETS still created a key file: %v", err)
	}
	if !dbBytesContain(t, dbPath, tokenInClear) {
		t.Fatal("control: the plaintext token is not in the file, the grep proves nothing")
	}
	// A start that warns: no key, plaintext present.
	if st, logs, err = openSealed(t, plain); err != nil || !strings.Contains(logs, "provider secrets are stored in clear") {
		t.Fatalf("%v: %s", err, logs)
	}
	st.Close()

	sealedCfg := testConfig(t, map[string]string{"DATABASE_URL": "sqlite:" + dbPath})
	st, logs, err = openSealed(t, sealedCfg)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs, "sealed provider secrets") || !strings.Contains(logs, "providers=1") {
		t.Fatalf("logs: %s", logs)
	}
	c, _ := sealed.Census(context.Background(), st)
	st.Close()
	if c.Plaintext != 0 || c.Sealed != 1 {
		t.Fatalf("census %+v", c)
	}
	// The files were rewritten: the old plaintext is not left in free
	// pages or the WAL.
	if dbBytesContain(t, dbPath, tokenInClear) {
		t.Fatal("the database files still hold the token in clear after sealing")
	}
	// ALLOW_PLAINTEXT_SECRETS does not ignore an existing key file.
	st, _, err = openSealed(t, plain)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ps, _, err := st.ListProviders(context.Background(), store.ListOptions{})
	if err != nil || len(ps) != 1 || !strings.Contains(string(ps[0].Config), tokenInClear) {
		t.Fatalf("with ALLOW_PLAINTEXT_SECRETS and the key file: %v", err)
	}
}

// TestStartRefusedWithoutTheKey: a database holding sealed secrets is not
// started without its key (a database copied without its key file), nor
// with a world-readable key file or an unfinished rotation.
func TestStartRefusedWithoutTheKey(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "sb.db")
	cfg := testConfig(t, map[string]string{"DATABASE_URL": "sqlite:" + dbPath})
	st, _, err := openSealed(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateProvider(context.Background(), twilioProvider()); err != nil {
		t.Fatal(err)
	}
	st.Close()

	if err := os.Chmod(dbPath+".key", 0o640); err != nil {
		t.Fatal(err)
	}
	if _, _, err := openSealed(t, cfg); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("group-readable key file: %v", err)
	}
	_ = os.Chmod(dbPath+".key", 0o600)

	if err := os.WriteFile(dbPath+".key.new", []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := openSealed(t, cfg); err == nil || !strings.Contains(err.Error(), "rotate-secret-key") {
		t.Fatalf("pending rotation: %v", err)
	}
	os.Remove(dbPath + ".key.new")

	if err := os.Rename(dbPath+".key", filepath.Join(dir, "elsewhere")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := openSealed(t, cfg); err == nil || !strings.Contains(err.Error(), "key file") || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("missing key file: %v", err)
	}
	if _, err := os.Stat(dbPath + ".key"); !os.IsNotExist(err) {
		t.Fatal("a new key file was generated over sealed secrets")
	}
}

// TestRotateSecretKeySQLite: the command re-seals every secret under a
// generated key and replaces the key file; the old key opens nothing
// afterwards, and running it again rotates again.
func TestRotateSecretKeySQLite(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "sb.db")
	cfg := testConfig(t, map[string]string{"DATABASE_URL": "sqlite:" + dbPath})
	st, _, err := openSealed(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for range 3 {
		p := twilioProvider()
		if err := st.CreateProvider(context.Background(), p); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, p.ID)
	}
	st.Close()
	oldKey, _ := sealed.ReadKeyFile(dbPath + ".key")

	var out bytes.Buffer
	if err := rotate(context.Background(), cfg, slog.New(slog.DiscardHandler), &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "re-sealed 3 providers") || !strings.Contains(out.String(), "replaced the key file") {
		t.Fatalf("output: %s", out.String())
	}
	newKey, err := sealed.ReadKeyFile(dbPath + ".key")
	if err != nil || bytes.Equal(newKey, oldKey) {
		t.Fatalf("key file not replaced: %v", err)
	}
	if _, err := os.Stat(dbPath + ".key.new"); !os.IsNotExist(err) {
		t.Fatal("pending key file left behind")
	}
	raw, _ := openStore(context.Background(), cfg, slog.New(slog.DiscardHandler))
	defer raw.Close()
	withOld, _ := sealed.Wrap(raw, oldKey)
	withNew, _ := sealed.Wrap(raw, newKey)
	for _, id := range ids {
		if _, err := withOld.GetProvider(context.Background(), id); store.ErrorCode(err) != store.EUNAVAILABLE {
			t.Fatalf("old key still opens %s: %v", id, err)
		}
		if p, err := withNew.GetProvider(context.Background(), id); err != nil || !strings.Contains(string(p.Config), tokenInClear) {
			t.Fatalf("new key: %v", err)
		}
	}
}

// TestRotateResumesAfterCrash: a rotation interrupted after writing the
// pending key file (and re-sealing part of the providers) is finished by
// running the command again: it uses the pending key, not a fresh one.
func TestRotateResumesAfterCrash(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "sb.db")
	cfg := testConfig(t, map[string]string{"DATABASE_URL": "sqlite:" + dbPath})
	st, _, err := openSealed(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for range 2 {
		p := twilioProvider()
		if err := st.CreateProvider(context.Background(), p); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, p.ID)
	}
	st.Close()
	oldKey, _ := sealed.ReadKeyFile(dbPath + ".key")
	pending, _ := sealed.NewKey()
	if err := sealed.CreateKeyFile(dbPath+".key.new", pending); err != nil {
		t.Fatal(err)
	}
	// The crash: one provider re-sealed under the pending key.
	raw, _ := openStore(context.Background(), cfg, slog.New(slog.DiscardHandler))
	half, _ := sealed.WrapWith(raw, pending, sealed.Options{OldKeys: [][]byte{oldKey}})
	p, _ := half.GetProvider(context.Background(), ids[0])
	if err := half.UpdateProvider(context.Background(), p, p.Version); err != nil {
		t.Fatal(err)
	}
	raw.Close()

	var out bytes.Buffer
	if err := rotate(context.Background(), cfg, slog.New(slog.DiscardHandler), &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "resuming") || !strings.Contains(out.String(), "re-sealed 1 providers") {
		t.Fatalf("output: %s", out.String())
	}
	if k, _ := sealed.ReadKeyFile(dbPath + ".key"); !bytes.Equal(k, pending) {
		t.Fatal("the key file does not hold the pending key")
	}
	st, _, err = openSealed(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, id := range ids {
		if _, err := st.GetProvider(context.Background(), id); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRotateSecretKeyEnv: with SWITCHBOARD_SECRET_KEY the new key comes
// from SWITCHBOARD_NEW_SECRET_KEY, and the command says to switch to it.
func TestRotateSecretKeyEnv(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "sb.db")
	oldHex, newHex := strings.Repeat("11", 32), strings.Repeat("22", 32)
	cfg := testConfig(t, map[string]string{"DATABASE_URL": "sqlite:" + dbPath, "SWITCHBOARD_SECRET_KEY": oldHex})
	st, _, err := openSealed(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	p := twilioProvider()
	if err := st.CreateProvider(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if err := rotate(context.Background(), cfg, slog.New(slog.DiscardHandler), &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "SWITCHBOARD_NEW_SECRET_KEY") {
		t.Fatalf("no new key: %v", err)
	}
	cfg = testConfig(t, map[string]string{"DATABASE_URL": "sqlite:" + dbPath, "SWITCHBOARD_SECRET_KEY": oldHex, "SWITCHBOARD_NEW_SECRET_KEY": newHex})
	var out bytes.Buffer
	if err := rotate(context.Background(), cfg, slog.New(slog.DiscardHandler), &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "now set SWITCHBOARD_SECRET_KEY") {
		t.Fatalf("output %s", out.String())
	}
	if _, err := os.Stat(dbPath + ".key"); !os.IsNotExist(err) {
		t.Fatal("env mode wrote a key file")
	}
	st, _, err = openSealed(t, testConfig(t, map[string]string{"DATABASE_URL": "sqlite:" + dbPath, "SWITCHBOARD_SECRET_KEY": newHex}))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.GetProvider(context.Background(), p.ID); err != nil {
		t.Fatal(err)
	}
}
