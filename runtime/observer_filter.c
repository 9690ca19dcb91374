/* The observer's filters in C: a profile function (3.11) that lets a hooked call, return or C
 * call through to Python and drops every other event without a Python call; and an audit hook
 * that calls Python only for the audit events the observer handles (not for each frame's f_code
 * read, sys._getframe, sys.setprofile...). Header-free (the stable ABI's layouts, declared here),
 * so that it builds with gcc alone and loads into any CPython 3.11+. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef intptr_t Py_ssize_t;
typedef struct _object { Py_ssize_t ob_refcnt; void *ob_type; } PyObject;
typedef PyObject *(*PyCFunction)(PyObject *, PyObject *);
typedef struct { const char *ml_name; PyCFunction ml_meth; int ml_flags; const char *ml_doc; } PyMethodDef;
typedef struct { PyObject ob_base; PyObject *(*m_init)(void); Py_ssize_t m_index; PyObject *m_copy; } PyModuleDef_Base;
typedef struct {
    PyModuleDef_Base m_base; const char *m_name; const char *m_doc; Py_ssize_t m_size;
    PyMethodDef *m_methods; void *m_slots; void *m_traverse; void *m_clear; void *m_free;
} PyModuleDef;
typedef int (*Py_tracefunc)(PyObject *, PyObject *, int, PyObject *);

extern PyObject *PyModule_Create2(PyModuleDef *, int);
extern PyObject *PyFrame_GetCode(PyObject *);
extern PyObject *PyObject_CallFunctionObjArgs(PyObject *, ...);
extern void PyEval_SetProfile(Py_tracefunc, PyObject *);
extern int PyArg_ParseTuple(PyObject *, const char *, ...);
extern PyObject *PyErr_NoMemory(void);
extern void Py_IncRef(PyObject *);
extern void Py_DecRef(PyObject *);
extern PyObject _Py_NoneStruct;
extern int PySys_AddAuditHook(int (*)(const char *, PyObject *, void *), void *);
extern PyObject *PyUnicode_FromString(const char *);
extern const char *PyUnicode_AsUTF8AndSize(PyObject *, Py_ssize_t *);
extern Py_ssize_t PyTuple_Size(PyObject *);
extern PyObject *PyTuple_GetItem(PyObject *, Py_ssize_t);

#define METH_VARARGS 1
#define METH_O 8
enum { CALL = 0, RETURN = 3, C_CALL = 4, C_EXCEPTION = 5, C_RETURN = 6 };

/* a set of object addresses (open addressing); its objects are held */
typedef struct { uintptr_t *slots; size_t mask; size_t used; } Set;
static Set codes, cfuncs;

static size_t home_of(const Set *s, uintptr_t key) {  /* objects are 16-byte aligned: >> 4 */
    return (size_t)((key >> 4) * 0x9E3779B97F4A7C15ull) & s->mask;
}
static size_t slot_of(const Set *s, uintptr_t key) {
    size_t i = home_of(s, key);
    while (s->slots[i] != 0 && s->slots[i] != key) i = (i + 1) & s->mask;
    return i;
}
static int contains(const Set *s, const void *key) {
    return s->slots != NULL && s->slots[slot_of(s, (uintptr_t)key)] == (uintptr_t)key;
}
static int grow(Set *s) {
    size_t size = s->slots ? (s->mask + 1) * 2 : 64;
    uintptr_t *old = s->slots; size_t old_size = old ? s->mask + 1 : 0;
    s->slots = calloc(size, sizeof(uintptr_t));
    if (s->slots == NULL) { s->slots = old; return -1; }
    s->mask = size - 1;
    for (size_t i = 0; i < old_size; i++) if (old[i]) s->slots[slot_of(s, old[i])] = old[i];
    free(old);
    return 0;
}
static int add(Set *s, PyObject *key) {
    if ((s->slots == NULL || (s->used + 1) * 2 > s->mask + 1) && grow(s) < 0) return -1;
    size_t i = slot_of(s, (uintptr_t)key);
    if (s->slots[i] == 0) { s->slots[i] = (uintptr_t)key; s->used++; Py_IncRef(key); }
    return 0;
}
static void discard(Set *s, PyObject *key) {  /* backward-shift deletion keeps probing exact */
    if (!contains(s, key)) return;
    size_t i = slot_of(s, (uintptr_t)key), j = i;
    s->slots[i] = 0; s->used--;
    for (;;) {
        j = (j + 1) & s->mask;
        if (s->slots[j] == 0) break;
        size_t home = home_of(s, s->slots[j]);
        if ((j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j))) {
            s->slots[i] = s->slots[j]; s->slots[j] = 0; i = j;
        }
    }
    Py_DecRef(key);
}

static PyObject *hit;  /* the Python function called for a hooked event: hit(frame, event, arg) */
static PyObject *names[7];

static int profile(PyObject *obj, PyObject *frame, int what, PyObject *arg) {
    (void)obj;
    if (hit == NULL) return 0;  /* not armed yet */
    if (what == CALL || what == RETURN) {
        PyObject *code = PyFrame_GetCode(frame);
        Py_DecRef(code);  /* the frame holds it */
        if (!contains(&codes, code)) return 0;
        if (what == CALL) arg = code;
    } else if (what == C_CALL || what == C_RETURN || what == C_EXCEPTION) {
        if (!contains(&cfuncs, arg)) return 0;
    } else {
        return 0;
    }
    PyObject *result = PyObject_CallFunctionObjArgs(hit, frame, names[what], arg ? arg : &_Py_NoneStruct, NULL);
    if (result == NULL) return -1;  /* the hook raised (it lets only KeyboardInterrupt and the like out) */
    Py_DecRef(result);
    return 0;
}

static PyObject *none(void) { Py_IncRef(&_Py_NoneStruct); return &_Py_NoneStruct; }

static PyObject *arm(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *function, *call, *ret, *c_call, *c_exception, *c_return;
    if (!PyArg_ParseTuple(args, "OUUUUU", &function, &call, &ret, &c_call, &c_exception, &c_return)) return NULL;
    PyObject *given[] = {function, call, ret, c_call, c_exception, c_return};
    for (int i = 0; i < 6; i++) Py_IncRef(given[i]);
    hit = function;
    names[CALL] = call; names[RETURN] = ret; names[C_CALL] = c_call;
    names[C_EXCEPTION] = c_exception; names[C_RETURN] = c_return;
    return none();
}
static PyObject *hook_code(PyObject *self, PyObject *code) {
    (void)self; return add(&codes, code) < 0 ? PyErr_NoMemory() : none();
}
static PyObject *unhook_code(PyObject *self, PyObject *code) {
    (void)self; discard(&codes, code); return none();
}
static PyObject *hook_c(PyObject *self, PyObject *function) {
    (void)self; return add(&cfuncs, function) < 0 ? PyErr_NoMemory() : none();
}
static PyObject *set_profile(PyObject *self, PyObject *shown) {  /* sys.getprofile() then returns `shown` */
    (void)self; PyEval_SetProfile(profile, shown); return none();
}

/* The audit events passed on to Python: their names, and the function called with (name, args). */
#define MAX_AUDITED 32
static char *audited[MAX_AUDITED];
static Py_ssize_t n_audited;
static PyObject *on_audit;

static int audit(const char *event, PyObject *args, void *data) {
    (void)data;
    if (on_audit == NULL) return 0;
    for (Py_ssize_t i = 0; i < n_audited; i++) {
        if (strcmp(event, audited[i]) != 0) continue;
        PyObject *name = PyUnicode_FromString(event);
        if (name == NULL) return -1;
        PyObject *result = PyObject_CallFunctionObjArgs(on_audit, name, args, NULL);
        Py_DecRef(name);
        if (result == NULL) return -1;  /* as a Python audit hook's exception: the operation fails */
        Py_DecRef(result);
        return 0;
    }
    return 0;
}

static PyObject *audit_hook(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *function, *names;
    if (!PyArg_ParseTuple(args, "OO", &function, &names)) return NULL;
    Py_ssize_t count = PyTuple_Size(names);
    if (count < 0) return NULL;
    char *copies[MAX_AUDITED];
    Py_ssize_t kept = 0;
    for (Py_ssize_t i = 0; i < count && kept < MAX_AUDITED; i++) {
        Py_ssize_t size;
        const char *name = PyUnicode_AsUTF8AndSize(PyTuple_GetItem(names, i), &size);
        if (name == NULL) { while (kept) free(copies[--kept]); return NULL; }
        copies[kept] = malloc((size_t)size + 1);
        if (copies[kept] == NULL) { while (kept) free(copies[--kept]); return PyErr_NoMemory(); }
        memcpy(copies[kept++], name, (size_t)size + 1);
    }
    int first = on_audit == NULL;
    Py_IncRef(function);
    PyObject *old = on_audit;
    for (Py_ssize_t i = 0; i < n_audited; i++) free(audited[i]);
    memcpy(audited, copies, sizeof(char *) * (size_t)kept);
    n_audited = kept;
    on_audit = function;
    if (old != NULL) Py_DecRef(old);
    if (first && PySys_AddAuditHook(audit, NULL) < 0) return NULL;  /* once: a hook is never removed */
    return none();
}

static PyMethodDef methods[] = {
    {"arm", arm, METH_VARARGS, "arm(hit, 'call', 'return', 'c_call', 'c_exception', 'c_return')"},
    {"hook_code", hook_code, METH_O, "let this code object's calls and returns through"},
    {"unhook_code", unhook_code, METH_O, "no longer let them through"},
    {"hook_c", hook_c, METH_O, "let this C function's calls and returns through"},
    {"set_profile", set_profile, METH_O, "set the filter as this thread's profile function"},
    {"audit_hook", audit_hook, METH_VARARGS, "audit_hook(function, names): call function(name, args) for these audit events"},
    {NULL, NULL, 0, NULL},
};
static PyModuleDef module = {{{1, NULL}, NULL, 0, NULL}, "_proclife_filter", NULL, -1, methods, NULL, NULL, NULL, NULL};

PyObject *PyInit__proclife_filter(void) { return PyModule_Create2(&module, 3); }
