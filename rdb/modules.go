package rdb

// Module values (type 7) and module aux data (opcode 247): handed out raw,
// their framing checked.

// readModule reads a module value (type 7) or module aux body: the 64-bit
// module id, then opcodes up to the EOF opcode, captured raw.
func (d *Decoder) readModule(m *Module, skip bool) error {
	id, err := d.readLen("module id")
	if err != nil {
		return err
	}
	d.r.capt, d.r.capture = !skip, d.r.capture[:0]
	defer func() { d.r.capt = false }()
	if err := d.walkModuleOpcodes(); err != nil {
		return err
	}
	*m = Module{ID: id, Name: moduleName(id), Version: id & 1023, Raw: d.r.capture}
	return nil
}

func (d *Decoder) walkModuleOpcodes() error {
	for {
		off := d.r.off
		op, err := d.readLen("module opcode")
		if err != nil {
			return err
		}
		switch op {
		case 0: // EOF
			return nil
		case 1, 2: // signed, unsigned integer
			if _, err := d.readLen("module integer"); err != nil {
				return err
			}
		case 3: // float
			if _, err := d.r.next(4); err != nil {
				return d.fail("module float", off, err)
			}
		case 4: // double
			if _, err := d.r.next(8); err != nil {
				return d.fail("module double", off, err)
			}
		case 5: // string
			if err := d.skipString("module string"); err != nil {
				return err
			}
		default:
			return d.fail("module opcode", off, corrupt("unknown module opcode %d", op))
		}
	}
}

func (d *Decoder) readModuleAux(off int64) error {
	id, err := d.readLen("module id")
	if err != nil {
		return err
	}
	whenOp, err := d.readLen("module aux when opcode")
	if err != nil {
		return err
	}
	if whenOp != 2 {
		return d.fail("module aux", off, corrupt("when opcode %d, want 2", whenOp))
	}
	when, err := d.readLen("module aux when")
	if err != nil {
		return err
	}
	d.r.capt, d.r.capture = true, d.r.capture[:0]
	err = d.walkModuleOpcodes()
	d.r.capt = false
	if err != nil {
		return err
	}
	d.rec.maux = ModuleAux{off: off, Module: Module{ID: id, Name: moduleName(id), Version: id & 1023, When: when, Raw: d.r.capture}}
	return nil
}

const moduleCharset = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// moduleName decodes the 9-character module type name from a module id.
func moduleName(id uint64) string {
	var name [9]byte
	id >>= 10
	for j := 8; j >= 0; j-- {
		name[j] = moduleCharset[id&63]
		id >>= 6
	}
	return string(name[:])
}
