package llm

import (
	"reflect"
	"testing"

	"switchboard/providers"
)

// TestFastPathFieldsMatchScriptData: the fast path's field table names
// exactly the fields of providers.ScriptData, the one definition of a
// reply template's data, so a template takes the same fields on both paths.
func TestFastPathFieldsMatchScriptData(t *testing.T) {
	typ := reflect.TypeFor[providers.ScriptData]()
	if typ.NumField() != len(scriptFields) {
		t.Fatalf("ScriptData has %d fields, the fast path knows %d", typ.NumField(), len(scriptFields))
	}
	for i := range typ.NumField() {
		if _, ok := scriptFields[typ.Field(i).Name]; !ok {
			t.Errorf("the fast path does not know ScriptData.%s", typ.Field(i).Name)
		}
	}
}
