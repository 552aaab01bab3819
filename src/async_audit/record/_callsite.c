/* The call-site walk of async_audit.record.frames, in C: the recorder's main cost per recorded call.
 *
 * Optional. When this module is not built (no C compiler where the package was installed, or a Python it does
 * not support), frames.py walks in Python with the same result. The classification stays in Python: this
 * walk only reads the caches frames.py fills, and calls back into it for a frame it has not seen yet.
 *
 *   configure(modules, codes, module_entry, code_entry, max_stack)
 *       modules:      {id(f_globals): (f_globals, kind, detail)}
 *       codes:        {id(f_code): (f_code, kind, detail, function)}
 *       module_entry: module_entry(code, globals) -> the modules entry for a frame's globals, made and cached
 *       code_entry:   code_entry(code, globals) -> the codes entry for a frame's code, made and cached
 *   clear()
 *       forget the entries this module keeps in front of the dictionaries: call it whenever they change
 *   walk(depth) -> (frames, via)
 *       from the frame ``depth`` levels out from the caller's: frames is a flat tuple (file, line, function,
 *       file, ...) of up to max_stack project frames, innermost first; via the outermost third-party package
 *       met before the first project frame (or None).
 *
 * An entry is held by its dictionary with the object it is keyed by the id() of, so an id found there is that
 * object's. Entries are checked for their shape: anything else is a TypeError for the caller to report, never
 * a crash.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* Python 3.11 to 3.13 run a function without a frame object, and make one only when asked for it (as
 * PyFrame_GetBack does for every frame it passes): about 10,000 instructions per walk, for a frame object
 * that then lives until its function returns. These versions' interpreter frames are read directly, through
 * the internal header of the very Python this is compiled for. Other versions walk frame objects: before
 * 3.11 every frame is one already, and after 3.13 the layout is not known to this file. */
#if PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030E0000
#define INTERPRETER_FRAMES 1
#define Py_BUILD_CORE
#include "internal/pycore_frame.h"
#undef Py_BUILD_CORE
typedef _PyInterpreterFrame Frame;
#else
#include <frameobject.h>
typedef PyFrameObject Frame;
#endif

enum { K_PROJECT = 0, K_THIRD = 1, K_SKIP = 2, K_STOP = 3, K_BY_CODE = 4 };
#define MAX_FRAMES 64

static PyObject *modules, *codes, *module_entry, *code_entry;
static Py_ssize_t max_stack = 8;

#ifdef INTERPRETER_FRAMES
/* The first frame from ``frame`` outward that Python shows (PyFrame_GetBack skips the same ones). */
static Frame *
complete(Frame *frame)
{
    while (frame != NULL) {
#if PY_VERSION_HEX >= 0x030C0000
        if (frame->owner == FRAME_OWNED_BY_CSTACK) { /* the C stack's shim between two runs of Python */
            frame = frame->previous;
            continue;
        }
#endif
        if (!_PyFrame_IsIncomplete(frame)) {
            break;
        }
        frame = frame->previous;
    }
    return frame;
}

static Frame *
first_frame(void)
{
#if PY_VERSION_HEX >= 0x030D0000
    return complete(PyThreadState_Get()->current_frame);
#else
    return complete(PyThreadState_Get()->cframe->current_frame);
#endif
}

static inline Frame *back(Frame *frame) { return complete(frame->previous); }
static inline void release(Frame *frame) { (void)frame; }
static inline PyObject *frame_globals(Frame *frame) { return frame->f_globals; }

static inline PyObject *
frame_code(Frame *frame)
{
#if PY_VERSION_HEX >= 0x030D0000
    return frame->f_executable;
#else
    return (PyObject *)frame->f_code;
#endif
}

static int
frame_line(Frame *frame)
{
#if PY_VERSION_HEX >= 0x030C0000
    return PyUnstable_InterpreterFrame_GetLine(frame);
#else
    return PyCode_Addr2Line(frame->f_code, _PyInterpreterFrame_LASTI(frame) * sizeof(_Py_CODEUNIT));
#endif
}

static inline int
frame_lasti(Frame *frame)
{
#if PY_VERSION_HEX >= 0x030C0000
    return PyUnstable_InterpreterFrame_GetLasti(frame);
#else
    return _PyInterpreterFrame_LASTI(frame);
#endif
}

#else /* frame objects: each one a new reference, released as the walk passes it */

static Frame *
first_frame(void)
{
    Frame *frame = PyEval_GetFrame();
    Py_XINCREF(frame);
    return frame;
}

static inline Frame *
back(Frame *frame)
{
    Frame *previous = PyFrame_GetBack(frame);
    Py_DECREF(frame);
    return previous;
}

static inline void release(Frame *frame) { Py_XDECREF(frame); }

static inline PyObject *
frame_globals(Frame *frame)
{
#if PY_VERSION_HEX >= 0x030B0000
    PyObject *globals = PyFrame_GetGlobals(frame); /* a new reference, kept alive by the frame */
    Py_DECREF(globals);
    return globals;
#else
    return frame->f_globals;
#endif
}

static inline PyObject *
frame_code(Frame *frame)
{
    PyCodeObject *code = PyFrame_GetCode(frame); /* a new reference, kept alive by the frame */
    Py_DECREF(code);
    return (PyObject *)code;
}

static inline int frame_line(Frame *frame) { return PyFrame_GetLineNumber(frame); }
#endif

/* In front of each dictionary, a table keyed by the object's address: a dictionary lookup by id() makes an
 * int and hashes it, ten times the work for the ten-odd frames of a walk. A slot holds a strong reference to
 * its entry, and the entry one to the object, so an address found here is that object's. The tables are
 * emptied by clear() (frames.py calls it whenever it empties or edits its dictionaries) and when they fill. */
#define SLOTS 1024 /* a power of two */
typedef struct {
    void *key;
    PyObject *entry;
} Slot;
typedef struct {
    Slot slots[SLOTS];
    Py_ssize_t used;
} Table;
static Table module_table, code_table;

static void
table_clear(Table *table)
{
    for (Py_ssize_t i = 0; i < SLOTS; i++) {
        if (table->slots[i].entry != NULL) {
            PyObject *entry = table->slots[i].entry;
            table->slots[i].key = NULL;
            table->slots[i].entry = NULL;
            Py_DECREF(entry);
        }
    }
    table->used = 0;
}

static inline Py_ssize_t
slot_of(void *key)
{
    uintptr_t k = (uintptr_t)key;
    return (Py_ssize_t)(((k >> 4) ^ (k >> 14)) & (SLOTS - 1));
}

/* A borrowed reference to the entry for ``key``, or NULL. */
static inline PyObject *
table_get(Table *table, void *key)
{
    for (Py_ssize_t i = slot_of(key);; i = (i + 1) & (SLOTS - 1)) {
        Slot *slot = &table->slots[i];
        if (slot->key == key) {
            return slot->entry;
        }
        if (slot->key == NULL) {
            return NULL;
        }
    }
}

static void
table_put(Table *table, void *key, PyObject *entry)
{
    if (table->used >= SLOTS / 2) {
        table_clear(table);
    }
    for (Py_ssize_t i = slot_of(key);; i = (i + 1) & (SLOTS - 1)) {
        Slot *slot = &table->slots[i];
        if (slot->key == NULL) {
            slot->key = key;
            slot->entry = Py_NewRef(entry);
            table->used++;
            return;
        }
    }
}

/* A project frame's line, by code object and instruction: finding it scans the code's line table from its
 * start, most of a walk's work, and the same few lines make the calls request after request. A slot holds
 * strong references to the code object and the line. Interpreter frames only: a frame object knows its line. */
typedef struct {
    PyObject *code;
    int lasti;
    PyObject *line;
} LineSlot;
static LineSlot line_slots[SLOTS];
static Py_ssize_t lines_used;

static void
lines_clear(void)
{
    for (Py_ssize_t i = 0; i < SLOTS; i++) {
        PyObject *code = line_slots[i].code, *line = line_slots[i].line;
        line_slots[i].code = NULL;
        line_slots[i].line = NULL;
        Py_XDECREF(code);
        Py_XDECREF(line);
    }
    lines_used = 0;
}

/* The line ``frame`` (running ``code``) is at, as an int or None (a new reference); NULL on error. */
static PyObject *
line_of(Frame *frame, PyObject *code)
{
#ifdef INTERPRETER_FRAMES
    int lasti = frame_lasti(frame);
    uintptr_t start = ((uintptr_t)slot_of(code) + (uintptr_t)lasti * 40503u) & (SLOTS - 1);
    for (uintptr_t i = start;; i = (i + 1) & (SLOTS - 1)) {
        LineSlot *slot = &line_slots[i];
        if (slot->code == code && slot->lasti == lasti) {
            return Py_NewRef(slot->line);
        }
        if (slot->code == NULL) {
            break;
        }
    }
#endif
    int line = frame_line(frame);
    PyObject *line_obj = line < 0 ? Py_NewRef(Py_None) : PyLong_FromLong(line);
#ifdef INTERPRETER_FRAMES
    if (line_obj == NULL) {
        return NULL;
    }
    if (lines_used >= SLOTS / 2) {
        lines_clear();
    }
    for (uintptr_t i = start;; i = (i + 1) & (SLOTS - 1)) {
        LineSlot *slot = &line_slots[i];
        if (slot->code == NULL) {
            slot->code = Py_NewRef(code);
            slot->lasti = lasti;
            slot->line = Py_NewRef(line_obj);
            lines_used++;
            break;
        }
    }
#endif
    return line_obj;
}

/* The entry for ``object`` (a new reference): from ``table``, else from the dictionary ``cache`` (keyed by
 * id()), else made by ``make(code, globals)``; NULL on error. An entry is checked for its shape before it is
 * used or kept: a wrong one is a TypeError, never a crash. */
static PyObject *
entry_for(Table *table, PyObject *cache, PyObject *object, PyObject *make, PyObject *code, PyObject *globals,
          Py_ssize_t size)
{
    PyObject *entry = table_get(table, object);
    if (entry != NULL) {
        return Py_NewRef(entry);
    }
    PyObject *key = PyLong_FromVoidPtr(object);
    if (key == NULL) {
        return NULL;
    }
    entry = PyDict_GetItemWithError(cache, key);
    Py_DECREF(key);
    if (entry != NULL) {
        Py_INCREF(entry);
    }
    else if (PyErr_Occurred()) {
        return NULL;
    }
    else {
        entry = PyObject_CallFunctionObjArgs(make, code, globals, NULL);
        if (entry == NULL) {
            return NULL;
        }
    }
    if (!PyTuple_CheckExact(entry) || PyTuple_GET_SIZE(entry) != size
        || PyTuple_GET_ITEM(entry, 0) != object || !PyLong_CheckExact(PyTuple_GET_ITEM(entry, 1))) {
        Py_DECREF(entry);
        PyErr_SetString(PyExc_TypeError, "async_audit._callsite: a cache entry of the wrong shape");
        return NULL;
    }
    table_put(table, object, entry);
    return entry;
}

static PyObject *
clear(PyObject *self, PyObject *unused)
{
    table_clear(&module_table);
    table_clear(&code_table);
    lines_clear();
    Py_RETURN_NONE;
}

static PyObject *
configure(PyObject *self, PyObject *args)
{
    PyObject *m, *c, *me, *ce;
    Py_ssize_t ms;
    if (!PyArg_ParseTuple(args, "O!O!OOn:configure", &PyDict_Type, &m, &PyDict_Type, &c, &me, &ce, &ms)) {
        return NULL;
    }
    if (ms < 1 || ms > MAX_FRAMES) {
        PyErr_SetString(PyExc_ValueError, "max_stack out of range");
        return NULL;
    }
    Py_INCREF(m);
    Py_INCREF(c);
    Py_INCREF(me);
    Py_INCREF(ce);
    Py_XSETREF(modules, m);
    Py_XSETREF(codes, c);
    Py_XSETREF(module_entry, me);
    Py_XSETREF(code_entry, ce);
    max_stack = ms;
    table_clear(&module_table);
    table_clear(&code_table);
    lines_clear();
    Py_RETURN_NONE;
}

static PyObject *
walk(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 1 || !PyLong_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "walk(depth: int)");
        return NULL;
    }
    if (modules == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "walk: configure() first");
        return NULL;
    }
    Py_ssize_t depth = PyLong_AsSsize_t(args[0]);
    if (depth == -1 && PyErr_Occurred()) {
        return NULL;
    }
    PyObject *items[MAX_FRAMES * 3];
    Py_ssize_t n = 0;
    PyObject *via = Py_None;
    Py_INCREF(via);
    PyObject *result = NULL;

    Frame *frame = first_frame(); /* the caller's: a function written in C has no frame of its own */
    for (Py_ssize_t i = 0; i < depth && frame != NULL; i++) {
        frame = back(frame);
    }
    while (frame != NULL) {
        PyObject *globals = frame_globals(frame);
        PyObject *code = frame_code(frame);
        PyObject *entry = entry_for(&module_table, modules, globals, module_entry, code, globals, 3);
        if (entry == NULL) {
            goto error;
        }
        long kind = PyLong_AsLong(PyTuple_GET_ITEM(entry, 1));
        if (kind == K_BY_CODE) {
            PyObject *centry = entry_for(&code_table, codes, code, code_entry, code, globals, 4);
            if (centry == NULL) {
                Py_DECREF(entry);
                goto error;
            }
            kind = PyLong_AsLong(PyTuple_GET_ITEM(centry, 1));
            if (kind == K_PROJECT) {
                PyObject *line_obj = line_of(frame, code);
                if (line_obj == NULL) {
                    Py_DECREF(centry);
                    Py_DECREF(entry);
                    goto error;
                }
                items[n++] = Py_NewRef(PyTuple_GET_ITEM(centry, 2));
                items[n++] = line_obj;
                items[n++] = Py_NewRef(PyTuple_GET_ITEM(centry, 3));
            }
            else if (kind == K_THIRD && n == 0) {
                Py_SETREF(via, Py_NewRef(PyTuple_GET_ITEM(centry, 2)));
            }
            Py_DECREF(centry);
            if (kind == K_STOP || n >= max_stack * 3) {
                Py_DECREF(entry);
                break;
            }
        }
        else if (kind == K_THIRD && n == 0) {
            Py_SETREF(via, Py_NewRef(PyTuple_GET_ITEM(entry, 2)));
        }
        Py_DECREF(entry);
        frame = back(frame);
    }
    PyObject *stack = PyTuple_New(n);
    if (stack == NULL) {
        goto error;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyTuple_SET_ITEM(stack, i, items[i]); /* steals */
    }
    n = 0;
    result = PyTuple_Pack(2, stack, via);
    Py_DECREF(stack);
error:
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_DECREF(items[i]);
    }
    release(frame);
    Py_DECREF(via);
    return result;
}

static PyMethodDef methods[] = {
    {"configure", configure, METH_VARARGS, "Set the caches and callbacks the walk reads."},
    {"clear", clear, METH_NOARGS, "Forget every entry: call it whenever the caches are emptied or edited."},
    {"walk", (PyCFunction)(void (*)(void))walk, METH_FASTCALL, "(frames, via) from the frame depth levels out."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "async_audit.record._callsite", "The call-site walk, in C.", -1, methods,
};

PyMODINIT_FUNC
PyInit__callsite(void)
{
    return PyModule_Create(&module);
}
